// The cross-language check: score feature vectors with the churn model's ONNX file in onnxruntime for JavaScript.
// usage: node score.mjs MODEL.onnx INPUT.json  (INPUT: [[8 numbers], ...]); prints {"runtime", "probabilities": [...]}
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, inputPath] = process.argv.slice(2);
if (!modelPath || !inputPath) { console.error('usage: node score.mjs MODEL.onnx INPUT.json'); process.exit(2); }
const rows = JSON.parse(readFileSync(inputPath, 'utf8'));
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
const width = session.inputMetadata?.[0]?.shape?.[1] ?? rows[0].length;
const flat = Float32Array.from(rows.flat());
if (flat.length !== rows.length * width) { console.error(`expected rows of ${width} numbers`); process.exit(2); }
const out = await session.run({ features: new ort.Tensor('float32', flat, [rows.length, width]) });
// a float32 widened to a JavaScript number prints exactly: the values are the runtime's, bit for bit
console.log(JSON.stringify({ runtime: `onnxruntime-node ${ort.env.versions?.node ?? ''}`.trim(), probabilities: Array.from(out.churn_probability.data) }));
