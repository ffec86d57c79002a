export { Mp3Stream } from "./mp3-stream.mjs";

/** What {@link readMp3Info} found in an MP3 file. */
export interface Mp3Info {
  frames: number;
  seconds: number;
  sampleRate: number;
  /** Bytes that are not frames: a leading ID3 tag, anything after the last whole frame. */
  strayBytes: number;
}

const BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const SAMPLE_RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/**
 * Walks the Layer III frame headers of an MP3 file to count frames and
 * measure its length; stops at the first byte that is not a frame.
 */
export function readMp3Info(bytes: Uint8Array): Mp3Info {
  let at = 0;
  // An ID3v2 tag may stand before the first frame.
  if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33 && bytes.length >= 10) {
    at = 10 + (((bytes[6] ?? 0) << 21) | ((bytes[7] ?? 0) << 14) | ((bytes[8] ?? 0) << 7) | (bytes[9] ?? 0));
  }
  const start = at;
  let frames = 0;
  let seconds = 0;
  let sampleRate = 0;
  while (at + 4 <= bytes.length) {
    const b1 = bytes[at + 1] ?? 0;
    const b2 = bytes[at + 2] ?? 0;
    if (bytes[at] !== 0xff || (b1 & 0xe0) !== 0xe0) break;
    const version = (b1 >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    const layer = (b1 >> 1) & 3; // 1: Layer III
    const rate = SAMPLE_RATES[version]?.[(b2 >> 2) & 3];
    const kbps = (version === 3 ? BITRATES_V1_L3 : BITRATES_V2_L3)[(b2 >> 4) & 15];
    if (layer !== 1 || !rate || !kbps) break;
    const perFrame = version === 3 ? 1152 : 576;
    const length = Math.floor(((perFrame / 8) * kbps * 1000) / rate) + ((b2 >> 1) & 1);
    if (at + length > bytes.length) break;
    frames++;
    seconds += perFrame / rate;
    sampleRate = rate;
    at += length;
  }
  return { frames, seconds, sampleRate, strayBytes: start + (bytes.length - at) };
}
