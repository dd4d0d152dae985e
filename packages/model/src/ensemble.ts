/**
 * A small ensemble: several trained versions of the digit classifier behind
 * one input, their probabilities averaged. Independent errors cancel, so
 * two or three good nets beat any one of them; the cost is their summed
 * compute (still far above what the API can send a worker, see bench/).
 *
 * It is an ordinary tfjs functional model (a version folder like any other:
 * model.json + weights.bin, exported to one ONNX graph with a Mean node), so
 * every engine, the registry, fine-tuning and explanations work unchanged.
 */
import * as tf from '@tensorflow/tfjs';

/** Layer names must be unique in one model: each member is rebuilt from its config with its names prefixed, and its weights copied over. */
export async function buildEnsemble(members: readonly tf.LayersModel[], name = 'ensemble'): Promise<tf.LayersModel> {
  if (members.length < 2) throw new RangeError(`an ensemble needs at least two members, got ${members.length}`);
  const copies: tf.LayersModel[] = [];
  for (const [i, member] of members.entries()) {
    if (!(member instanceof tf.Sequential)) throw new RangeError(`ensemble member ${i} is not a Sequential model`);
    const config = member.toJSON(null, false) as unknown as { class_name: string; config: { name: string; layers: { config: { name: string } }[] } };
    const renamed = structuredClone(config);
    const prefix = `m${i + 1}_`;
    renamed.config.name = `${prefix}${config.config.name}`;
    for (const layer of renamed.config.layers) layer.config.name = `${prefix}${layer.config.name}`;
    const copy = await tf.models.modelFromJSON({ modelTopology: renamed } as unknown as tf.io.ModelJSON);
    copy.setWeights(member.getWeights());
    copies.push(copy);
  }
  const input = tf.input({ shape: members[0]!.inputs[0]!.shape.slice(1) as number[], name: 'digit' });
  const outputs = copies.map((copy) => copy.apply(input) as tf.SymbolicTensor);
  const mean = tf.layers.average({ name: 'mean_probabilities' }).apply(outputs) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: mean, name });
}
