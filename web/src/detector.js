// The exported detector on onnxruntime-web's wasm backend: whole-file score and per-window
// scores with the windows of spectcontra.inference (settings from the export's detector.json).
import * as ort from '../vendor/ort.wasm.min.mjs';
import { decide, probBonafide, windowBatches, windowStarts } from './clips.js';

const SETTINGS_FORMAT = 'spectcontra-browser';
const SETTINGS_VERSION = 1;
const REQUIRED = ['model_file', 'input_name', 'output_name', 'sample_rate', 'crop_samples',
  'score_window_samples', 'score_hop_samples', 'overlay_window_samples', 'overlay_hop_samples',
  'window_batch', 'threshold', 'trim_silence', 'trim_db', 'max_seconds', 'silence_peak',
  'n_parameters', 'n_fft', 'hop_length'];

export class ModelLoadError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new ModelLoadError(`${url}: HTTP ${response.status}`);
  return response;
}

/** Settings written by the export stage beside the model; refused unless every key is there. */
export async function loadSettings(modelDir) {
  const url = new URL('detector.json', modelDir);
  const settings = await (await fetchOk(url)).json();
  const missing = REQUIRED.filter((k) => !(k in settings));
  if (settings.format !== SETTINGS_FORMAT || settings.version !== SETTINGS_VERSION || missing.length) {
    throw new ModelLoadError(`${url} is not a ${SETTINGS_FORMAT} v${SETTINGS_VERSION} file ` +
      `(format ${settings.format}, version ${settings.version}, missing ${missing.join(', ') || 'none'})`);
  }
  return settings;
}

/** Wasm threads: one unless the page is cross-origin isolated (SharedArrayBuffer needs it). */
export function defaultThreads() {
  return self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
}

export async function loadDetector(modelDir, requestedThreads = defaultThreads()) {
  // Without SharedArrayBuffer onnxruntime-web runs one thread whatever it is asked.
  const threads = self.crossOriginIsolated ? requestedThreads : 1;
  const settings = await loadSettings(modelDir);
  ort.env.wasm.wasmPaths = new URL('../vendor/', import.meta.url).href;  // never a CDN
  ort.env.wasm.numThreads = threads;
  const bytes = new Uint8Array(await (await fetchOk(new URL(settings.model_file, modelDir))).arrayBuffer());
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  } catch (err) {
    throw new ModelLoadError(`${settings.model_file} did not load in onnxruntime-web: ${err.message || err}`);
  }
  const detector = new BrowserDetector(session, settings, bytes.byteLength, threads);
  await detector.warmUp();
  return detector;
}

/** numpy.percentile's default (linear interpolation) of ascending `sorted`. */
function percentile(sorted, q) {
  const at = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export class BrowserDetector {
  constructor(session, settings, modelBytes, threads) {
    this.session = session;
    this.settings = settings;
    this.modelBytes = modelBytes;
    this.threads = threads;
  }

  /** One throw-away pass (as the CLI's warm_up), so the first file is not charged set-up. */
  async warmUp() {
    await this.scoreWave(new Float32Array(this.settings.crop_samples).fill(0.01));
  }

  /** Calibrated scores (Float32Array) of `wave`'s windows of `window` samples every `hop`. */
  async windowScores(wave, window, hop) {
    const { crop_samples: crop, window_batch: batchSize, input_name, output_name } = this.settings;
    const starts = windowStarts(wave.length, window, hop);
    const scores = new Float32Array(starts.length);
    let i = 0;
    for (const { starts: batch, data } of windowBatches(wave, window, starts, crop, batchSize)) {
      const feed = { [input_name]: new ort.Tensor('float32', data, [batch.length, crop]) };
      const out = await this.session.run(feed);
      scores.set(out[output_name].data, i);
      i += batch.length;
    }
    return { starts, scores };
  }

  /** The whole-file score: the mean of calibrated crop-window scores (the calibration is affine). */
  async scoreWave(wave) {
    const { score_window_samples: window, score_hop_samples: hop } = this.settings;
    const { scores } = await this.windowScores(wave, window, hop);
    let sum = 0;
    for (const s of scores) sum += s;
    return sum / scores.length;
  }

  /** What `spectcontra detect` reports for a wave, plus the overlay's per-window scores. */
  async detect(wave) {
    const s = this.settings;
    const t0 = performance.now();
    const score = await this.scoreWave(wave);
    const latencyMs = performance.now() - t0;
    const { starts, scores } = await this.windowScores(wave, s.overlay_window_samples, s.overlay_hop_samples);
    const span = Math.min(s.overlay_window_samples, wave.length);
    return {
      score,
      pBonafide: probBonafide(score),
      decision: decide(score, s.threshold),
      threshold: s.threshold,
      latencyMs,
      audioSeconds: wave.length / s.sample_rate,
      windows: { centres: starts.map((st) => (st + span / 2) / s.sample_rate), scores: Array.from(scores) },
    };
  }

  /** Wall time (ms) of scoreWave on `wave`: p50, p95, mean of `runs` after `warmup` untimed. */
  async benchmark(wave, runs, warmup) {
    for (let i = 0; i < warmup; i++) await this.scoreWave(wave);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await this.scoreWave(wave);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { p50_ms: percentile(times, 50), p95_ms: percentile(times, 95),
      mean_ms: times.reduce((a, b) => a + b, 0) / times.length, runs, warmup,
      threads: this.threads, backend: 'wasm' };
  }
}
