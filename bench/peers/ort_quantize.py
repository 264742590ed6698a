#!/usr/bin/python3
"""ONNX Runtime's dynamic int8 quantisation of an ONNX model, rebuilt with the `onnx` package.

  ort_quantize.py MODEL.onnx OUT.onnx [--per-channel] [--reduce-range] [--ops MatMul,Gather]

Why not onnxruntime.quantization.quantize_dynamic itself: the `onnxruntime` Python package is
not a Debian package here (ONNX Runtime comes from npm's onnxruntime-node, which has no
quantisation tools). This script writes the graph that quantize_dynamic(model, out,
weight_type=QuantType.QInt8) writes for an opset >= 11 model, following
onnxruntime/python/tools/quantization (onnx_quantizer.py, operators/matmul.py,
operators/gather.py, quant_utils.py) with its defaults:

 * MatMul whose B is an initializer (quantize_dynamic sets MatMulConstBOnly; the activation x
   activation MatMuls of attention stay f32):
       x -> DynamicQuantizeLinear -> (x_q uint8, x_scale, x_zero_point)
       W -> int8 initializer W_q, symmetric per tensor: scale = max|W| / 127, zero point 0
            (per output column with --per-channel; codes -64..64, scale = max|W| / 64, with
            --reduce-range)
       MatMulInteger(x_q, W_q, x_zero_point, W_zero_point) -> int32
       Cast(to float), Mul(x_scale, W_scale), Mul(cast, scales) -> the MatMul's output
   (the Add of the bias that follows stays; ONNX Runtime's graph optimiser then fuses the chain
   into MatMulIntegerToFloat / DynamicQuantizeMatMul with the bias, at level 'all'.)
 * Gather whose data is an initializer (the embedding tables): the table as int8 (symmetric per
   tensor), Gather on the codes, DequantizeLinear after it.

Not done: quantize_dynamic's optional pre-pass with ONNX Runtime's basic optimiser
(optimize_model, which needs the Python package; torch.onnx.export has already folded the
constants). Prints one JSON line: how many MatMul and Gather nodes were quantised.
"""
import argparse
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize_symmetric(w, per_channel_axis=None, reduce_range=False):
    """int8 codes and scale(s) as quant_utils.quantize_data(symmetric=True) computes them."""
    qmax = 64 if reduce_range else 127  # get_qmin_qmax_for_qType(INT8, symmetric=True)
    w = w.astype(np.float32)
    if per_channel_axis is None:
        absmax = float(max(abs(min(w.min(), 0.0)), abs(max(w.max(), 0.0))))
        scale = np.float32(absmax / qmax if absmax > 0 else 1.0)
        q = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
        return q, np.array(scale, dtype=np.float32), np.array(0, dtype=np.int8)
    moved = np.moveaxis(w, per_channel_axis, 0)
    absmax = np.max(np.abs(moved.reshape(moved.shape[0], -1)), axis=1)
    scale = np.where(absmax > 0, absmax / qmax, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[per_channel_axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -qmax, qmax).astype(np.int8)
    return q, scale, np.zeros(scale.shape, dtype=np.int8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--reduce-range", action="store_true")
    ap.add_argument("--ops", default="MatMul,Gather")
    a = ap.parse_args()
    ops = set(a.ops.split(","))

    model = onnx.load(a.model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 11:
        raise SystemExit(f"{a.model}: opset {opset} < 11 (DynamicQuantizeLinear needs 11)")
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes, new_inits, removed_inits = [], [], set()
    counts = {"MatMul": 0, "Gather": 0}
    dq_of = {}  # activation name -> (codes, scale, zero point): one DynamicQuantizeLinear each

    def quantized_weight(name, axis):
        w = numpy_helper.to_array(inits[name])
        q, scale, zp = quantize_symmetric(w, axis if a.per_channel else None, a.reduce_range)
        base = name + "_quantized"
        new_inits.extend([numpy_helper.from_array(q, base),
                          numpy_helper.from_array(scale, name + "_scale"),
                          numpy_helper.from_array(zp, name + "_zero_point")])
        removed_inits.add(name)
        return base, name + "_scale", name + "_zero_point"

    for node in g.node:
        if node.op_type == "MatMul" and "MatMul" in ops and node.input[1] in inits:
            x = node.input[0]
            if x not in dq_of:
                dq_of[x] = (x + "_quantized", x + "_scale", x + "_zero_point")
                new_nodes.append(helper.make_node("DynamicQuantizeLinear", [x], list(dq_of[x]),
                                                  x + "_QuantizeLinear"))
            xq, xs, xz = dq_of[x]
            # Per channel: one scale per output column of B [in, out].
            wq, ws, wz = quantized_weight(node.input[1], 1)
            name = (node.name or node.output[0]) + "_quant"
            mmi = node.output[0] + "_output_quantized"
            new_nodes.append(helper.make_node("MatMulInteger", [xq, wq, xz, wz], [mmi], name))
            cast = mmi + "_cast_output"
            new_nodes.append(helper.make_node("Cast", [mmi], [cast], mmi + "_cast",
                                              to=TensorProto.FLOAT))
            scales = name + "_scales_mul:0"
            new_nodes.append(helper.make_node("Mul", [xs, ws], [scales], name + "_scales_mul"))
            new_nodes.append(helper.make_node("Mul", [cast, scales], [node.output[0]],
                                              name + "_output_scale_mul"))
            counts["MatMul"] += 1
        elif node.op_type == "Gather" and "Gather" in ops and node.input[0] in inits:
            wq, ws, wz = quantized_weight(node.input[0], 0)
            gq = node.output[0] + "_quantized"
            attrs = {at.name: helper.get_attribute_value(at) for at in node.attribute}
            new_nodes.append(helper.make_node("Gather", [wq, node.input[1]], [gq],
                                              (node.name or node.output[0]) + "_quant", **attrs))
            new_nodes.append(helper.make_node("DequantizeLinear", [gq, ws, wz], [node.output[0]],
                                              node.output[0] + "_DequantizeLinear"))
            counts["Gather"] += 1
        else:
            new_nodes.append(node)

    # An initializer still read by a node that was not quantised stays.
    still_used = {i for n in new_nodes for i in n.input}
    kept = [t for t in g.initializer if t.name not in removed_inits or t.name in still_used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, a.out)
    print(json.dumps({"quantized": counts, "per_channel": a.per_channel,
                      "reduce_range": a.reduce_range, "opset": opset}))


if __name__ == "__main__":
    sys.exit(main())
