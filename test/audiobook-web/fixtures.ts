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
