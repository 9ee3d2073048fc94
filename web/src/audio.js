// Audio input as spectcontra.audio.load_audio does it: decode, mono by channel mean, the model's
// rate, the same refusals (empty, non-finite, silent, too long), optional silence trimming.

export class AudioInputError extends Error {
  constructor(name, reason) {
    super(`bad audio file ${name}: ${reason}`);
    this.name = 'AudioInputError';
  }
}

/**
 * Decode an encoded file (ArrayBuffer) to a mono Float32Array at `settings.sample_rate`.
 *
 * decodeAudioData always resamples to its context's rate, so decoding inside an
 * OfflineAudioContext at the model's rate is the resampling step (the browser's sinc
 * resampler; Python's ONNX route uses scipy's polyphase one, so files at another rate score
 * a little differently). Files already at the model's rate keep their samples bit for bit.
 */
export async function decodeToModelRate(bytes, name, settings) {
  const rate = settings.sample_rate;
  const context = new OfflineAudioContext(1, 1, rate);
  let buffer;
  try {
    buffer = await context.decodeAudioData(bytes);
  } catch (err) {
    throw new AudioInputError(name, `unreadable (${err.message || err.name || err})`);
  }
  if (buffer.length === 0) throw new AudioInputError(name, 'no samples');
  const seconds = buffer.length / rate;
  if (seconds > settings.max_seconds) {
    throw new AudioInputError(name, `${seconds.toFixed(1)} s is longer than the ${settings.max_seconds} s limit`);
  }
  let wave = mixToMono(buffer);
  let peak = 0;
  for (const x of wave) {
    if (!Number.isFinite(x)) throw new AudioInputError(name, 'contains NaN or infinite samples');
    peak = Math.max(peak, Math.abs(x));
  }
  if (peak < settings.silence_peak) {
    throw new AudioInputError(name, `silent (peak below ${settings.silence_peak})`);
  }
  if (settings.trim_silence) wave = trimSilence(wave, rate, settings.trim_db);
  return wave;
}

/** The channel mean, as numpy's float32 mean over channels. */
export function mixToMono(buffer) {
  if (buffer.numberOfChannels === 1) return buffer.getChannelData(0).slice();
  const out = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i] += channel[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= buffer.numberOfChannels;
  return out;
}

/**
 * spectcontra.audio.trim_silence: drop leading/trailing 25 ms frames (10 ms hop) quieter than
 * the loudest frame minus `topDb`; never returns an empty wave.
 */
export function trimSilence(wave, rate, topDb) {
  const frame = Math.max(1, Math.round(0.025 * rate));
  const hop = Math.max(1, Math.round(0.010 * rate));
  const n = wave.length;
  if (n <= frame) return wave;
  const nFrames = 1 + Math.ceil((n - frame) / hop);
  const energyDb = new Float64Array(nFrames);
  for (let f = 0; f < nFrames; f++) {
    let sum = 0;
    for (let i = f * hop; i < Math.min(n, f * hop + frame); i++) sum += wave[i] * wave[i];
    energyDb[f] = 10 * Math.log10(sum / frame + 1e-20);  // zero padding past the end, as Python
  }
  const floor = energyDb.reduce((a, b) => Math.max(a, b), -Infinity) - topDb;
  const first = energyDb.findIndex((e) => e >= floor);
  const last = energyDb.findLastIndex((e) => e >= floor);
  const start = first * hop;
  const end = Math.min(n, last * hop + frame);
  return end > start ? wave.subarray(start, end) : wave;
}
