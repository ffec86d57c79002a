/**
 * Streaming mono PCM → MP3 (constant bit rate, no VBR header, no bit
 * reservoir), so the files of several chapters concatenate into one valid MP3.
 * @example
 * const mp3 = new Mp3Stream({ sampleRate: 22_050 });
 * const bytes = [mp3.encode(samples), mp3.finish()];
 */
export declare class Mp3Stream {
  /** @param options.kbps one of LAME's bit rates. @defaultValue 64 */
  constructor(options: { sampleRate: number; kbps?: number });
  readonly sampleRate: number;
  readonly kbps: number;
  /** MP3 bytes for these signed 16-bit mono samples (possibly none yet: the encoder works in whole frames). */
  encode(samples: Int16Array): Uint8Array;
  /** The last frames; call once at the end. */
  finish(): Uint8Array;
  /** Seconds of audio encoded so far. */
  readonly seconds: number;
}
