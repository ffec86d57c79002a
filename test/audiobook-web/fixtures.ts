/** A small book: three short chapters of a few sentences each, so each is spoken in several pieces. */
export const LIGHTHOUSE = `The Lighthouse Keeper

Chapter 1: The Lamp

Every evening the keeper climbed the stairs. He counted them, one by one.
At the top he lit the lamp. The light swept over the grey water.

Chapter 2: The Storm

One night the wind rose. Waves struck the rocks below the tower.
The keeper trimmed the wick and waited. A small boat rounded the point.

Chapter 3: Morning

By dawn the sea was calm again. The boat lay safe in the harbour.
The keeper put out the lamp and went down to sleep.
`;

/** Another small book, different bytes. */
export const SECOND_BOOK = `The Storm at Sea

Chapter 1: Setting Out

The ship left the harbour at noon. The sky was clear and the wind was kind.

Chapter 2: Dark Clouds

By evening the clouds came in low. The captain ordered the sails taken in.
The crew worked through the night. Nobody slept.

Chapter 3: Landfall

At first light they saw the cliffs. The storm had carried them home.
`;

/** A third, to wait in line. */
export const THIRD_BOOK = `The Fox

Chapter 1

A fox lived in a den. It was warm.

Chapter 2

The fox swam across the river and went home.
`;
