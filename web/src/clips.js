// The clip policy of spectcontra.clips, in JS: window starts, tiling to the crop, batching.
// Pure functions on Float32Arrays; the browser's score equals onnxruntime-python's only if
// these match the Python ones sample for sample (tests/test_browser.py checks the scores).

/** Start offsets of `window`-sample windows every `hop`; the last window ends flush with the clip. */
export function windowStarts(nSamples, window, hop) {
  if (window < 1 || hop < 1 || nSamples < 1) {
    throw new RangeError(`need nSamples, window, hop >= 1, got ${nSamples}, ${window}, ${hop}`);
  }
  if (nSamples <= window) return [0];
  const starts = [];
  for (let s = 0; s <= nSamples - window; s += hop) starts.push(s);
  if (starts[starts.length - 1] + window < nSamples) starts.push(nSamples - window);
  return starts;
}

/** Exactly n samples of `wave`: shorter clips tiled (never zero-padded), longer ones centre-cropped. */
export function cropOrPad(wave, n) {
  if (wave.length === 0) throw new RangeError('empty waveform');
  if (wave.length >= n) {
    const start = Math.floor((wave.length - n) / 2);
    return wave.subarray(start, start + n);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += wave.length) out.set(wave.subarray(0, Math.min(wave.length, n - i)), i);
  return out;
}

/** Batches {starts, data: Float32Array(batch * crop)} of the windows at `starts`, each tiled to the crop. */
export function* windowBatches(wave, window, starts, crop, batchSize) {
  for (let i = 0; i < starts.length; i += batchSize) {
    const batch = starts.slice(i, i + batchSize);
    const data = new Float32Array(batch.length * crop);
    batch.forEach((s, j) => data.set(cropOrPad(wave.subarray(s, s + window), crop), j * crop));
    yield { starts: batch, data };
  }
}

/** P(bona fide) under equal priors: the logistic of the calibrated LLR, overflow-free. */
export function probBonafide(score) {
  return 0.5 * (1 + Math.tanh(0.5 * score));
}

/** The CLI's decision: bona fide strictly above the dev threshold. */
export function decide(score, threshold) {
  return score > threshold ? 'bonafide' : 'spoof';
}
