/**
 * Writes an Mlp (mlp.ts) as an ONNX model: Gemm and Relu per hidden layer,
 * Gemm and Softmax at the end, weights as float initializers, opset 17. The
 * ModelProto protobuf is encoded by hand (a few field types suffice), so the
 * examples need no protobuf or ONNX package; onnxruntime-node loads the
 * result (test/integration/ml.test.ts checks its outputs against forward()).
 *
 * Input `input`: float [N, features]; output `probs`: float [N, classes].
 * Field numbers are those of onnx/onnx.proto.
 */
import type { Mlp } from './mlp.ts'

const FLOAT = 1 // TensorProto.DataType.FLOAT
const ATTR_INT = 2 // AttributeProto.AttributeType.INT

export function exportOnnx (m: Mlp, producer = 'meshwork examples/ml'): Uint8Array {
  const nodes: Uint8Array[] = []
  const inits: Uint8Array[] = []
  let x = 'input'
  for (let l = 0; l < m.W.length; l++) {
    const [w, b, z] = [`W${l}`, `b${l}`, `z${l}`]
    inits.push(tensor(w, [m.sizes[l]!, m.sizes[l + 1]!], m.W[l]!), tensor(b, [m.sizes[l + 1]!], m.b[l]!))
    nodes.push(node('Gemm', [x, w, b], [z], `gemm${l}`))
    const last = l + 1 === m.W.length
    const a = last ? 'probs' : `a${l}`
    nodes.push(last ? node('Softmax', [z], [a], 'softmax', [intAttr('axis', -1)]) : node('Relu', [z], [a], `relu${l}`))
    x = a
  }
  const graph = msg([
    ...nodes.map(n => bytesField(1, n)),
    stringField(2, 'mlp'),
    ...inits.map(t => bytesField(5, t)),
    bytesField(11, valueInfo('input', m.sizes[0]!)),
    bytesField(12, valueInfo('probs', m.sizes.at(-1)!))
  ])
  return msg([
    varintField(1, 8), // ir_version 8 (ONNX 1.10+), enough for opset 17
    stringField(2, producer),
    bytesField(7, graph),
    bytesField(8, msg([stringField(1, ''), varintField(2, 17)])) // opset_import: the default domain, 17
  ])
}

function node (op: string, inputs: string[], outputs: string[], name: string, attrs: Uint8Array[] = []): Uint8Array {
  return msg([...inputs.map(i => stringField(1, i)), ...outputs.map(o => stringField(2, o)), stringField(3, name), stringField(4, op), ...attrs.map(a => bytesField(5, a))])
}

function intAttr (name: string, value: number): Uint8Array {
  return msg([stringField(1, name), varintField(3, value), varintField(20, ATTR_INT)])
}

function tensor (name: string, dims: number[], data: Float32Array): Uint8Array {
  // raw_data is little-endian; so is every machine Node runs on that this targets, but say it explicitly.
  const raw = new Uint8Array(data.length * 4)
  const view = new DataView(raw.buffer)
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true)
  return msg([...dims.map(d => varintField(1, d)), varintField(2, FLOAT), stringField(8, name), bytesField(9, raw)])
}

/** A float tensor [N, width] with a symbolic batch dimension. */
function valueInfo (name: string, width: number): Uint8Array {
  const shape = msg([bytesField(1, msg([stringField(2, 'N')])), bytesField(1, msg([varintField(1, width)]))])
  const tensorType = msg([varintField(1, FLOAT), bytesField(2, shape)])
  return msg([stringField(1, name), bytesField(2, msg([bytesField(1, tensorType)]))])
}

// Protobuf wire format: a field is a varint key (number << 3 | wire type) and its value.

function varint (n: number): number[] {
  // Negative int64 values take ten bytes (two's complement); BigInt keeps that exact.
  let v = BigInt.asUintN(64, BigInt(n))
  const out: number[] = []
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n }
  out.push(Number(v))
  return out
}

function varintField (field: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(field << 3), ...varint(value)])
}

function bytesField (field: number, data: Uint8Array): Uint8Array {
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(data.length)]), data])
}

function stringField (field: number, s: string): Uint8Array {
  return bytesField(field, new TextEncoder().encode(s))
}

const msg = concat

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
