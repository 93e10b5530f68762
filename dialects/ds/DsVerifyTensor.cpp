//===- DsVerifyTensor.cpp - verifiers of the FP8 and data-movement ops ----===//
//
// Type inference and verification of ds.quantize, ds.dequantize, ds.slice, ds.concat,
// ds.reshape and ds.expand (see DsOpChecker.h for the scheme).
//
//===----------------------------------------------------------------------===//
#include "dialects/ds/DsOpChecker.h"
#include "dialects/ds/DsOps.h"

using namespace mlir;
using namespace ds;
using namespace ds::detail;

LogicalResult ds::detail::checkTrainingFloat(const OpChecker &c, RankedTensorType type,
                                             StringRef name) {
  Type element = type.getElementType();
  if (element.isF32() || element.isBF16())
    return success();
  return c.error() << name << " element type must be f32 or bf16 but is " << element;
}

//===----------------------------------------------------------------------===//
// ds.quantize, ds.dequantize: FP8 with one scale per [bm, bk] block (V3 report §3.3.2)
//===----------------------------------------------------------------------===//

static LogicalResult checkBlock(const OpChecker &c, ArrayRef<int64_t> block) {
  if (block.size() != 2)
    return c.error() << "attribute 'block' must have 2 entries ([rows, columns] of the "
                        "last two dimensions) but has "
                     << block.size();
  for (auto [index, size] : llvm::enumerate(block))
    if (size <= 0)
      return c.error() << "attribute 'block' entry " << index
                       << " must be positive but is " << size;
  return success();
}

/// The scales of `values` [..., M, K] in [bm, bk] blocks: [..., ceil(M/bm), ceil(K/bk)].
static SmallVector<int64_t> scalesShape(RankedTensorType values,
                                        ArrayRef<int64_t> block) {
  SmallVector<int64_t> shape(values.getShape());
  int64_t rank = values.getRank();
  shape[rank - 2] = ceilDiv(shape[rank - 2], block[0]);
  shape[rank - 1] = ceilDiv(shape[rank - 1], block[1]);
  return shape;
}

static LogicalResult inferQuantize(const OpChecker &c, QuantizeOp::Adaptor a,
                                   ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  ArrayRef<int64_t> block = a.getBlock();
  if (!input || failed(c.minRank(input, "input", 2, "[..., M, K]")) ||
      failed(checkBlock(c, block)))
    return failure();
  MLIRContext *context = input.getContext();
  implied.push_back(
      {"values", tensorOf(input.getShape(), Float8E4M3FNType::get(context))});
  implied.push_back(
      {"scales", tensorOf(scalesShape(input, block), Float32Type::get(context))});
  return success();
}

LogicalResult QuantizeOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc, Adaptor a,
                                           SmallVectorImpl<Type> &types) {
  return inferWith<QuantizeOp>(inferQuantize, context, loc, a, types);
}

LogicalResult QuantizeOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferQuantize(c, Adaptor(*this), implied)) ||
      failed(checkTrainingFloat(c, getInput().getType(), "input")))
    return failure();
  return c.results(*this, implied);
}

LogicalResult DequantizeOp::verify() {
  OpChecker c(*this);
  auto values = c.tensor(getValues(), "values");
  auto scales = c.tensor(getScales(), "scales");
  auto result = c.tensorType(getResult().getType(), "result");
  if (!values || !scales || !result ||
      failed(c.minRank(values, "values", 2, "[..., M, K]")) ||
      failed(checkBlock(c, getBlock())))
    return failure();
  std::string source = "values in blocks of " + std::to_string(getBlock()[0]) + "x" +
                       std::to_string(getBlock()[1]);
  if (failed(c.shape(scales, "scales", scalesShape(values, getBlock()), source)) ||
      failed(c.elementType(scales, "scales", Float32Type::get(getContext()))) ||
      failed(c.sameShape(result, "result", values, "values")) ||
      failed(checkTrainingFloat(c, result, "result")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// ds.slice
//===----------------------------------------------------------------------===//

/// 0 <= dim < rank of `type` (named `name`).
static LogicalResult checkDimAttr(const OpChecker &c, int64_t dim, RankedTensorType type,
                                  StringRef name) {
  if (dim >= 0 && dim < type.getRank())
    return success();
  return c.error() << "attribute 'dim' is " << dim << " but " << name << " has rank "
                   << type.getRank();
}

static LogicalResult inferSlice(const OpChecker &c, SliceOp::Adaptor a,
                                ImpliedResults &implied) {
  auto input = c.tensor(a.getInput(), "input");
  auto dim = static_cast<int64_t>(a.getDim());
  auto size = static_cast<int64_t>(a.getSize());
  if (!input || failed(checkDimAttr(c, dim, input, "input")) ||
      failed(c.positive(size, "size")))
    return failure();
  SmallVector<int64_t> shape(input.getShape());
  shape[dim] = size;
  implied.push_back({"result", tensorOf(shape, input.getElementType())});
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *context, std::optional<Location> loc,
                                        Adaptor a, SmallVectorImpl<Type> &types) {
  return inferWith<SliceOp>(inferSlice, context, loc, a, types);
}

LogicalResult SliceOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferSlice(c, Adaptor(*this), implied)))
    return failure();
  auto dim = static_cast<int64_t>(getDim());
  auto offset = static_cast<int64_t>(getOffset());
  auto size = static_cast<int64_t>(getSize());
  int64_t extent = getInput().getType().getDimSize(dim);
  if (failed(c.nonNegative(offset, "offset")))
    return failure();
  if (offset + size > extent)
    return emitOpError("the range [")
           << offset << ", " << offset + size << ") does not fit input dimension " << dim
           << " of size " << extent;
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.concat
//===----------------------------------------------------------------------===//

static LogicalResult inferConcat(const OpChecker &c, ConcatOp::Adaptor a,
                                 ImpliedResults &implied) {
  ValueRange inputs = a.getInputs();
  if (inputs.empty())
    return c.error() << "needs at least one input";
  auto first = c.tensor(inputs.front(), "inputs[0]");
  auto dim = static_cast<int64_t>(a.getDim());
  if (!first || failed(checkDimAttr(c, dim, first, "inputs[0]")))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  for (auto [index, value] : llvm::enumerate(inputs.drop_front())) {
    std::string name = "inputs[" + std::to_string(index + 1) + "]";
    auto input = c.tensor(value, name);
    if (!input || failed(c.rank(input, name, first.getRank(), "the rank of inputs[0]")) ||
        failed(c.sameElementType(input, name, first, "inputs[0]")))
      return failure();
    for (int64_t d = 0; d < first.getRank(); ++d)
      if (d != dim && failed(c.dim(input, name, d, "", first.getDimSize(d),
                                   "inputs[0] dimension " + Twine(d))))
        return failure();
    shape[dim] += input.getDimSize(dim);
  }
  implied.push_back({"result", tensorOf(shape, first.getElementType())});
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor a,
                                         SmallVectorImpl<Type> &types) {
  return inferWith<ConcatOp>(inferConcat, context, loc, a, types);
}

LogicalResult ConcatOp::verify() {
  OpChecker c(*this);
  ImpliedResults implied;
  if (failed(inferConcat(c, Adaptor(*this), implied)))
    return failure();
  return c.results(*this, implied);
}

//===----------------------------------------------------------------------===//
// ds.reshape, ds.expand
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  OpChecker c(*this);
  auto input = c.tensor(getInput(), "input");
  auto result = c.tensorType(getResult().getType(), "result");
  if (!input || !result || failed(c.sameElementType(result, "result", input, "input")))
    return failure();
  if (input.getNumElements() != result.getNumElements())
    return emitOpError("result has ")
           << result.getNumElements() << " elements (type " << result
           << ") but input has " << input.getNumElements() << " (type " << input << ")";
  return success();
}

LogicalResult ds::detail::checkBroadcast(const OpChecker &c, RankedTensorType narrow,
                                         StringRef narrowName, RankedTensorType wide,
                                         StringRef wideName) {
  if (failed(c.rank(narrow, narrowName, wide.getRank(), "the rank of " + wideName.str())))
    return failure();
  for (int64_t d = 0; d < wide.getRank(); ++d) {
    int64_t size = narrow.getDimSize(d);
    if (size != 1 && size != wide.getDimSize(d))
      return c.error() << narrowName << " dimension " << d << " is " << size
                       << " but must be 1 or " << wideName << "'s size "
                       << wide.getDimSize(d);
  }
  return c.sameElementType(narrow, narrowName, wide, wideName);
}

LogicalResult ExpandOp::verify() {
  OpChecker c(*this);
  auto input = c.tensor(getInput(), "input");
  auto result = c.tensorType(getResult().getType(), "result");
  if (!input || !result)
    return failure();
  return checkBroadcast(c, input, "input", result, "result");
}
