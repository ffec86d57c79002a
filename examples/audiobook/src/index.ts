// The audiobook example's public face, for the upload route and page to mount.
export { defineAudiobook, submitBook, AUDIOBOOK_TASK, CHAPTER_TASK } from "./task.js";
export type { AudiobookInput, AudiobookResult, AudiobookChapter, AudiobookOptions, ChapterInput } from "./task.js";
export { saveUpload, sweepUploads, uploadsDir } from "./upload.js";
export type { SavedUpload } from "./upload.js";
export { parseBook, BOOK_EXTENSIONS } from "./book.js";
export type { Book, Chapter, BookLimits } from "./book.js";
export { espeakVoice, splitForSpeech } from "./speech.js";
export type { Speaker, Narrator, SpokenChunk, NarratedChunk, EspeakOptions } from "./speech.js";
export { Mp3Stream, readMp3Info } from "./mp3.js";
export type { Mp3Info } from "./mp3.js";
export { audiobookApp } from "./app.js";
export type { AudiobookAppOptions, BookListing } from "./app.js";
export { mountAudiobook } from "./app-mount.js";
export type { MountAudiobookOptions } from "./app-mount.js";
