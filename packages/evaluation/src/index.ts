/**
 * @digitq/evaluation: a model version's evaluation report. Metrics and
 * calibration error (metrics.ts), temperature scaling (temperature.ts), the
 * robustness suite of degraded MNIST test digits through the real
 * preprocessing (robustness-suite.ts), the report itself (report.ts) and its
 * pictures as SVG (svg.ts).
 *
 * No tfjs and no ONNX Runtime: a model is a function (Classify) from N x 784
 * inputs to N x 10 probabilities, which the CLI and the worker build from
 * the engine they serve with.
 */
export * from './metrics.ts';
export * from './temperature.ts';
export * from './robustness-suite.ts';
export * from './report.ts';
export * from './svg.ts';
