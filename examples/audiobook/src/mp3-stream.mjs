// Streaming PCM → MP3 with LAME (lamejs). Plain JavaScript so the speech
// worker thread can load it without a TypeScript loader; types beside it
// in mp3-stream.d.mts.
import { Mp3Encoder } from "@breezystack/lamejs";

/** LAME's preferred input block: one MPEG-1 frame of samples. */
const BLOCK = 1152;

export class Mp3Stream {
  constructor({ sampleRate, kbps = 64 }) {
    if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 48000) throw new RangeError(`Unsupported sample rate ${sampleRate}`);
    if (![8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160].includes(kbps)) throw new RangeError(`Unsupported bit rate ${kbps} kbps`);
    this.sampleRate = sampleRate;
    this.kbps = kbps;
    this.encoder = new Mp3Encoder(1, sampleRate, kbps);
    this.samples = 0;
    this.finished = false;
  }

  encode(samples) {
    if (this.finished) throw new Error("This MP3 stream is finished");
    this.samples += samples.length;
    const parts = [];
    for (let at = 0; at < samples.length; at += BLOCK) parts.push(this.encoder.encodeBuffer(samples.subarray(at, at + BLOCK)));
    return concat(parts);
  }

  finish() {
    if (this.finished) return new Uint8Array(0);
    this.finished = true;
    return concat([this.encoder.flush()]);
  }

  get seconds() {
    return this.samples / this.sampleRate;
  }
}

/** One Uint8Array that owns its buffer (lamejs hands out views of its own, reused, memory). */
function concat(parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), at);
    at += part.byteLength;
  }
  return out;
}
