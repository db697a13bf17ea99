// The ONNX importer (include/gradattr/onnx/load.hpp; docs/models.md). Reads a ModelProto with
// ONNX's own protobuf classes, validates it, fixes its input shape, runs ONNX's shape
// inference, and translates the nodes that compute the logits into a graph::GraphDef.
//
// Order of trust: nothing of the file is used before it is checked. First the protobuf parse;
// then our own structural checks (cheap, and they name the node: every value defined before it
// is read, unique outputs, one image input, one output); then every initializer is decoded
// (dims, type and data size agree; external data only inside the model's directory); then
// onnx::checker; then shape inference at batch 1 and batch 2 (the two runs tell which extents of
// a reshape are the batch); then translation, which reports every unsupported node at once.
#include "gradattr/onnx/load.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/repeated_field.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "gradattr/core/error.hpp"
#include "gradattr/graph/passes.hpp"

namespace gradattr::onnx {
namespace {

namespace fs = std::filesystem;
using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using graph::GraphDef;
using graph::NodeDef;
using graph::Op;

// ---- decoded tensors ----

// Float constants of at least this many elements are weights: held once, in the GraphDef.
constexpr std::size_t kWeightElements = std::size_t{1} << 14;

// An initializer or Constant value: floating types exactly widened to double, integer types to
// int64 (shape data: axes, pads, reshape targets).
struct Data {
  std::vector<std::int64_t> dims;
  bool floating = true;
  // The values. A large float constant's f is freed once it is copied into the GraphDef
  // (use_constant; moved_to names the copy) and restored from there if read again.
  mutable std::vector<double> f;
  std::string moved_to;
  std::vector<std::int64_t> i;
  std::int64_t numel() const { return floating ? static_cast<std::int64_t>(f.size()) : static_cast<std::int64_t>(i.size()); }
};

// IEEE half -> float, exactly (subnormals, infinities and NaN included).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}
float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::string type_name(int t) {
  return TensorProto::DataType_IsValid(t) ? TensorProto::DataType_Name(static_cast<TensorProto::DataType>(t))
                                          : "type " + std::to_string(t);
}

std::size_t element_size(int t) {
  switch (t) {
    case TensorProto::FLOAT: case TensorProto::INT32: return 4;
    case TensorProto::DOUBLE: case TensorProto::INT64: return 8;
    case TensorProto::FLOAT16: case TensorProto::BFLOAT16: return 2;
    case TensorProto::INT8: case TensorProto::UINT8: case TensorProto::BOOL: return 1;
    default: return 0;
  }
}

class Importer {
 public:
  Importer(std::string path, LoadOptions options) : path_(std::move(path)), options_(options) {}

  GraphDef run() {
    parse();
    check_structure();
    collect_reads();
    decode_initializers();
    check_with_onnx();
    infer_shapes();
    translate();
    GraphDef g = std::move(def_);
    if (options_.fold_batchnorm) g = graph::fold_affine_into_conv(std::move(g));
    if (options_.fuse_gelu) g = graph::fuse_gelu(std::move(g));
    if (options_.fuse_silu) g = graph::fuse_silu(std::move(g));
    if (options_.fuse_matmul_bias) g = graph::fuse_matmul_bias(std::move(g));
    graph::drop_unread_constants(g);  // e.g. a Gemm's B, replaced by its transposed copy
    graph::validate(g);
    return g;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(path_ + ": " + what); }
  static std::string node_label(const NodeProto& n) {
    return "node '" + n.name() + "' (" + n.op_type() + ")";
  }

  // ---- 1. protobuf ----
  void parse() {
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (!in) throw IoError(path_ + ": cannot open the ONNX file");
    const std::streamoff size = in.tellg();
    in.seekg(0);
    if (!in) throw IoError(path_ + ": read error");
    if (size == 0) fail("the file is empty, not an ONNX model");
    if (size > static_cast<std::streamoff>(INT_MAX))
      fail("the file is over 2 GB: protobuf cannot hold it; save the weights as external data");
    {
      // Parsed from the stream in blocks, so the file's bytes are not held beside the message.
      google::protobuf::io::IstreamInputStream raw(&in, 1 << 20);
      google::protobuf::io::CodedInputStream coded(&raw);
      coded.SetTotalBytesLimit(INT_MAX);
      if (!model_.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
        fail("not a valid ONNX protobuf (truncated or corrupt)");
    }
    if (in.bad()) throw IoError(path_ + ": read error");
    if (!model_.has_graph() || model_.graph().node_size() == 0) fail("the model has no graph nodes");
    for (const auto& o : model_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ <= 0) fail("the model imports no opset of the default ONNX domain");
    if (opset_ < 7 || opset_ > 18)
      fail("opset " + std::to_string(opset_) + " is outside the range gradattr reads (7..18)");
  }

  // ---- 2. structure ----
  void check_structure() {
    const GraphProto& g = model_.graph();
    std::set<std::string> defined;
    std::set<std::string> init_names;
    for (const auto& t : g.initializer()) {
      if (t.name().empty()) fail("an initializer has no name");
      if (!init_names.insert(t.name()).second) fail("initializer '" + t.name() + "' is defined twice");
      defined.insert(t.name());
    }
    std::vector<std::string> inputs;
    for (const auto& v : g.input())
      if (!init_names.contains(v.name())) inputs.push_back(v.name()), defined.insert(v.name());
    if (inputs.size() != 1)
      fail("an image classifier has one input; this graph has " + std::to_string(inputs.size()));
    input_ = inputs[0];
    if (g.output_size() != 1) {
      std::string names;
      for (const auto& o : g.output()) names += (names.empty() ? "'" : ", '") + o.name() + "'";
      fail("an image classifier has one output (the logits); this graph has " + std::to_string(g.output_size()) +
           (names.empty() ? std::string() : ": " + names));
    }
    output_ = g.output(0).name();
    std::map<std::string, int> produced_at;
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& o : g.node(i).output())
        if (!o.empty()) produced_at.emplace(o, i);
    for (int i = 0; i < g.node_size(); ++i) {
      const NodeProto& n = g.node(i);
      if (!n.domain().empty() && n.domain() != "ai.onnx")
        fail(node_label(n) + " is from domain '" + n.domain() + "', which gradattr does not run");
      for (const auto& in : n.input()) {
        if (in.empty() || defined.contains(in)) continue;
        auto later = produced_at.find(in);
        if (later != produced_at.end())
          fail(node_label(n) + " reads '" + in + "' before node '" + g.node(later->second).name() +
               "' produces it (nodes out of topological order, or a cycle)");
        fail(node_label(n) + " reads '" + in + "', which no node, initializer or input produces");
      }
      for (const auto& o : n.output()) {
        if (o.empty()) continue;
        if (!defined.insert(o).second) fail(node_label(n) + " writes '" + o + "', which is already defined");
        producer_[o] = i;
      }
    }
    if (!producer_.contains(output_)) fail("the output '" + output_ + "' is not produced by a node");
  }

  // ---- 3. initializers ----
  Data decode(const TensorProto& t, const std::string& what) const {
    Data d;
    std::int64_t n = 1;
    if (t.dims_size() > 4) fail(what + " has rank " + std::to_string(t.dims_size()) + "; gradattr tensors have rank <= 4");
    for (std::int64_t dim : t.dims()) {
      if (dim < 0) fail(what + " has a negative dimension (" + std::to_string(dim) + ")");
      if (dim > 0 && n > std::numeric_limits<std::int64_t>::max() / dim) fail(what + ": its dimensions overflow");
      n *= dim;
      d.dims.push_back(dim);
    }
    const int type = t.data_type();
    const std::size_t es = element_size(type);
    if (es == 0 || type == TensorProto::BOOL) fail(what + " has data type " + type_name(type) + ", which gradattr does not read");
    if (n > std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(es)) fail(what + ": its size overflows");
    d.floating = type == TensorProto::FLOAT || type == TensorProto::DOUBLE || type == TensorProto::FLOAT16 ||
                 type == TensorProto::BFLOAT16;
    const std::size_t count = static_cast<std::size_t>(n);
    std::string external;
    const std::string* raw = nullptr;
    if (t.data_location() == TensorProto::EXTERNAL) {
      external = read_external(t, what, count * es);
      raw = &external;
    } else if (t.has_raw_data()) {
      raw = &t.raw_data();
      if (raw->size() != count * es)
        fail(what + ": raw data holds " + std::to_string(raw->size()) + " bytes, but dims " + dims_str(d.dims) + " of " +
             type_name(type) + " need " + std::to_string(count * es));
    }
    auto typed_count = [&](std::size_t have) {
      if (have != count)
        fail(what + " holds " + std::to_string(have) + " values, but its dims " + dims_str(d.dims) + " need " +
             std::to_string(count));
    };
    if (d.floating) d.f.resize(count); else d.i.resize(count);
    const char* p = raw ? raw->data() : nullptr;
    switch (type) {
      case TensorProto::FLOAT:
        if (!p) typed_count(static_cast<std::size_t>(t.float_data_size()));
        for (std::size_t k = 0; k < count; ++k) {
          float v;
          if (p) std::memcpy(&v, p + 4 * k, 4); else v = t.float_data(static_cast<int>(k));
          d.f[k] = v;
        }
        break;
      case TensorProto::DOUBLE:
        if (!p) typed_count(static_cast<std::size_t>(t.double_data_size()));
        for (std::size_t k = 0; k < count; ++k) {
          if (p) std::memcpy(&d.f[k], p + 8 * k, 8); else d.f[k] = t.double_data(static_cast<int>(k));
        }
        break;
      case TensorProto::FLOAT16:
      case TensorProto::BFLOAT16:
        if (!p) typed_count(static_cast<std::size_t>(t.int32_data_size()));
        for (std::size_t k = 0; k < count; ++k) {
          std::uint16_t bits;
          if (p) std::memcpy(&bits, p + 2 * k, 2); else bits = static_cast<std::uint16_t>(t.int32_data(static_cast<int>(k)));
          d.f[k] = type == TensorProto::FLOAT16 ? half_to_float(bits) : bfloat16_to_float(bits);
        }
        break;
      case TensorProto::INT64:
        if (!p) typed_count(static_cast<std::size_t>(t.int64_data_size()));
        for (std::size_t k = 0; k < count; ++k) {
          if (p) std::memcpy(&d.i[k], p + 8 * k, 8); else d.i[k] = t.int64_data(static_cast<int>(k));
        }
        break;
      case TensorProto::INT32:
        if (!p) typed_count(static_cast<std::size_t>(t.int32_data_size()));
        for (std::size_t k = 0; k < count; ++k) {
          std::int32_t v;
          if (p) std::memcpy(&v, p + 4 * k, 4); else v = t.int32_data(static_cast<int>(k));
          d.i[k] = v;
        }
        break;
      case TensorProto::INT8:
      case TensorProto::UINT8:
        if (!p) typed_count(static_cast<std::size_t>(t.int32_data_size()));
        for (std::size_t k = 0; k < count; ++k)
          d.i[k] = p ? (type == TensorProto::INT8 ? static_cast<std::int64_t>(static_cast<std::int8_t>(p[k]))
                                                  : static_cast<std::int64_t>(static_cast<std::uint8_t>(p[k])))
                     : t.int32_data(static_cast<int>(k));
        break;
      default: fail(what + " has data type " + type_name(type) + ", which gradattr does not read");
    }
    return d;
  }

  static std::string dims_str(const std::vector<std::int64_t>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  }

  // External data: only a relative path that stays inside the model's directory (after
  // resolving symbolic links), never absolute, never through "..": a model file must not be able
  // to read other files of the machine.
  std::string read_external(const TensorProto& t, const std::string& what, std::size_t bytes) const {
    std::string location;
    std::int64_t offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset" || kv.key() == "length") {
        std::int64_t v = 0;
        try {
          std::size_t used = 0;
          v = std::stoll(kv.value(), &used);
          if (used != kv.value().size() || v < 0) throw std::invalid_argument("");
        } catch (const std::exception&) {
          fail(what + ": external data " + kv.key() + " '" + kv.value() + "' is not a non-negative integer");
        }
        (kv.key() == "offset" ? offset : length) = v;
      }
    }
    if (location.empty()) fail(what + ": external data without a location");
    const fs::path rel(location);
    if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
      fail(what + ": external data location '" + location + "' is absolute; it must be relative to the model's directory");
    for (const auto& part : rel)
      if (part == "..") fail(what + ": external data location '" + location + "' leaves the model's directory");
    const fs::path dir = fs::absolute(fs::path(path_)).parent_path();
    std::error_code ec;
    const fs::path file = fs::weakly_canonical(dir / rel, ec);
    const fs::path base = fs::weakly_canonical(dir, ec);
    const auto [b, f] = std::mismatch(base.begin(), base.end(), file.begin(), file.end());
    if (ec || b != base.end())
      fail(what + ": external data location '" + location + "' resolves outside the model's directory");
    if (length >= 0 && static_cast<std::size_t>(length) != bytes)
      fail(what + ": external data length " + std::to_string(length) + " disagrees with its dims and type (" +
           std::to_string(bytes) + " bytes)");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw IoError(path_ + ": " + what + ": cannot open external data file '" + location + "'");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::int64_t>(in.tellg());
    if (size < 0 || offset > size || static_cast<std::int64_t>(bytes) > size - offset)
      fail(what + ": external data file '" + location + "' holds " + std::to_string(size) + " bytes, shorter than offset " +
           std::to_string(offset) + " + " + std::to_string(bytes) + " declared");
    std::string data(bytes, '\0');
    in.seekg(offset);
    in.read(data.data(), static_cast<std::streamsize>(bytes));
    if (!in) throw IoError(path_ + ": " + what + ": read error in external data file '" + location + "'");
    return data;
  }

  // Each float initializer's values are dropped from the protobuf once decoded (dims and type
  // stay, for the checker's shell): the file's weights are not held twice while loading.
  void decode_initializers() {
    for (auto& t : *model_.mutable_graph()->mutable_initializer()) {
      Data& d = data_[t.name()] = decode(t, "initializer '" + t.name() + "'");
      if (t.data_type() == TensorProto::FLOAT && d.f.size() >= kWeightElements) {
        // A float32 weight becomes a graph constant as it is, in float (graph::Constant), and its
        // double copy is dropped (constant() restores it if a node reads the values).
        Shape s;
        for (std::int64_t dim : d.dims) s.push(dim);
        auto w = Tensor<float>::uninitialized(s);
        for (std::size_t k = 0; k < d.f.size(); ++k) w[static_cast<std::int64_t>(k)] = static_cast<float>(d.f[k]);  // exact
        def_.constants[t.name()] = std::move(w);
        d.moved_to = t.name();
        std::vector<double>().swap(d.f);
      }
      // Integer initializers stay (small; the checker's shell keeps them as they are).
      if (t.data_location() == TensorProto::EXTERNAL || !d.floating) continue;
      // Swapped with empty containers: clear() would keep the capacity.
      if (t.has_raw_data()) std::string().swap(*t.mutable_raw_data());
      google::protobuf::RepeatedField<float>().Swap(t.mutable_float_data());
      google::protobuf::RepeatedField<double>().Swap(t.mutable_double_data());
      google::protobuf::RepeatedField<std::int32_t>().Swap(t.mutable_int32_data());
      google::protobuf::RepeatedField<std::int64_t>().Swap(t.mutable_int64_data());
      t.clear_raw_data();
    }
  }

  // ---- 4. onnx::checker, on a copy without the float weights (it does not need them) ----
  // Each float initializer becomes a graph input of the same name, type and dims: the checker and
  // shape inference see the same types and shapes, and the copy holds no weight bytes (it held
  // zero-filled bytes of each weight's size before: two copies of ViT-B/16's 346 MB at once
  // while inferring shapes, the load's peak). Integer initializers stay, with their values.
  ModelProto shell() const {
    ModelProto m = model_;
    GraphProto* g = m.mutable_graph();
    std::set<std::string> inputs;
    for (const auto& v : g->input()) inputs.insert(v.name());
    google::protobuf::RepeatedPtrField<TensorProto> kept;
    for (auto& t : *g->mutable_initializer()) {
      const Data& d = data_.at(t.name());
      if (!d.floating) {
        if (t.data_location() == TensorProto::EXTERNAL) {  // inlined: the checker does not read files
          t.clear_raw_data();
          t.clear_int32_data();
          t.clear_int64_data();
          t.clear_external_data();
          t.set_data_location(TensorProto::DEFAULT);
          t.set_data_type(TensorProto::INT64);
          for (std::int64_t v : d.i) t.add_int64_data(v);
        }
        kept.Add()->Swap(&t);
        continue;
      }
      if (inputs.contains(t.name())) continue;  // IR < 4 lists initializers as inputs too
      auto* v = g->add_input();
      v->set_name(t.name());
      auto* tt = v->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(t.data_type());
      auto* shape = tt->mutable_shape();
      for (std::int64_t dim : t.dims()) shape->add_dim()->set_dim_value(dim);
    }
    g->mutable_initializer()->Swap(&kept);
    return m;
  }

  void check_with_onnx() {
    try {
      ::onnx::checker::check_model(shell());
    } catch (const std::exception& e) {
      fail(std::string("onnx::checker: ") + e.what());
    }
  }

  // ---- 5. shapes ----
  // The input's fixed shape, with batch `n`.
  std::vector<std::int64_t> input_dims(std::int64_t n) const {
    for (const auto& v : model_.graph().input()) {
      if (v.name() != input_) continue;
      if (!v.type().has_tensor_type()) fail("input '" + input_ + "' is not a tensor");
      const int et = v.type().tensor_type().elem_type();
      if (et != TensorProto::FLOAT && et != TensorProto::DOUBLE && et != TensorProto::FLOAT16)
        fail("input '" + input_ + "' has element type " + type_name(et) + "; an image input is floating point");
      const auto& shape = v.type().tensor_type().shape();
      if (shape.dim_size() != 4)
        fail("input '" + input_ + "' has rank " + std::to_string(shape.dim_size()) + "; an image input is [N, C, H, W]");
      std::vector<std::int64_t> dims{n};
      for (int i = 1; i < 4; ++i) {
        const auto& d = shape.dim(i);
        std::int64_t extent = d.has_dim_value() ? d.dim_value() : 0;
        if (i == 2 && options_.height > 0) extent = options_.height;
        if (i == 3 && options_.width > 0) extent = options_.width;
        if (extent <= 0) {
          const char* what[] = {"", "channel count", "height", "width"};
          fail("input '" + input_ + "': its " + what[i] + " is " +
               (d.has_dim_param() ? "symbolic ('" + d.dim_param() + "')" : std::string("unknown")) +
               (i == 1 ? "; the channel count must be fixed in the file" : "; give it with LoadOptions (CLI: --size)"));
        }
        dims.push_back(extent);
      }
      return dims;
    }
    fail("input '" + input_ + "' has no type");
  }

  std::map<std::string, std::vector<std::int64_t>> infer_at(std::int64_t n) const {
    ModelProto m = shell();
    GraphProto* g = m.mutable_graph();
    g->clear_value_info();
    const auto dims = input_dims(n);
    for (auto& v : *g->mutable_input()) {
      if (v.name() != input_) continue;
      auto* shape = v.mutable_type()->mutable_tensor_type()->mutable_shape();
      for (int i = 0; i < 4; ++i) {
        shape->mutable_dim(i)->clear_dim_param();
        shape->mutable_dim(i)->set_dim_value(dims[static_cast<std::size_t>(i)]);
      }
    }
    for (auto& v : *g->mutable_output()) v.mutable_type()->mutable_tensor_type()->clear_shape();
    // Rounds: infer; fold the integer inputs that a node reads as constants (a Reshape's target,
    // a Slice's bounds: data_input_count) but ONNX could not evaluate (eval_ints, at this batch),
    // as initializers of this copy; infer again, until nothing more folds.
    std::set<std::string> replaced;
    for (int round = 0;; ++round) {
      ModelProto run = m;
      try {
        ::onnx::ShapeInferenceOptions opts(/*check_type=*/true, /*error_mode=*/1, /*data_propagation=*/true);
        ::onnx::shape_inference::InferShapes(run, ::onnx::OpSchemaRegistry::Instance(), opts);
      } catch (const std::exception& e) {
        fail(std::string("ONNX shape inference at batch ") + std::to_string(n) + ": " + e.what());
      }
      Shapes shapes;
      auto take = [&](const ::onnx::ValueInfoProto& v) {
        if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
        std::vector<std::int64_t> s;
        for (const auto& d : v.type().tensor_type().shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
        shapes[v.name()] = s;
      };
      for (const auto& v : run.graph().input()) take(v);
      for (const auto& v : run.graph().value_info()) take(v);
      for (const auto& v : run.graph().output()) take(v);
      for (const auto& [name, d] : data_) shapes[name] = d.dims;
      if (round == 8) return shapes;
      IntsMemo memo;
      bool changed = false;
      for (auto& node : *g->mutable_node()) {
        for (int k = data_input_count(node); k < node.input_size(); ++k) {
          const std::string name = node.input(k);
          if (name.empty() || replaced.contains(name) || name.rfind("gradattr::fold::", 0) == 0 || constant(name)) continue;
          const auto v = eval_ints(name, shapes, memo);
          if (!v) continue;
          TensorProto* t = g->add_initializer();
          t->set_name("gradattr::fold::" + name);
          t->set_data_type(TensorProto::INT64);
          auto known = shapes.find(name);
          if (!(known != shapes.end() && known->second.empty() && v->size() == 1))
            t->add_dims(static_cast<std::int64_t>(v->size()));
          for (std::int64_t x : *v) t->add_int64_data(x);
          replaced.insert(name);
          changed = true;
        }
      }
      for (auto& node : *g->mutable_node())
        for (int k = data_input_count(node); k < node.input_size(); ++k)
          if (replaced.contains(node.input(k))) node.set_input(k, "gradattr::fold::" + node.input(k));
      if (!changed) return shapes;
    }
  }

  void infer_shapes() {
    decode_constant_nodes();  // eval_ints reads them
    shapes1_ = infer_at(1);
    shapes2_ = infer_at(2);
  }

  const std::vector<std::int64_t>& shape_of(const std::string& v, const NodeProto& n, int batch = 1) const {
    const auto& m = batch == 1 ? shapes1_ : shapes2_;
    auto it = m.find(v);
    if (it == m.end() || std::any_of(it->second.begin(), it->second.end(), [](std::int64_t d) { return d < 0; }))
      fail(node_label(n) + ": the shape of '" + v + "' cannot be fixed for the input shape (ONNX shape inference leaves it open)");
    return it->second;
  }

  // Every computed value has a known shape within LoadOptions::max_elements, before anything of
  // that size is allocated; GraphModel then checks its own shapes against these.
  void check_size(const NodeProto& n) {
    if (n.op_type() == "Identity" || n.op_type() == "Dropout" || n.op_type() == "Cast") return;
    const auto& s = shape_of(n.output(0), n);
    std::int64_t count = 1;
    for (std::int64_t d : s) {
      if (d > 0 && count > options_.max_elements / d) count = options_.max_elements + 1;
      else count *= d;
    }
    if (count > options_.max_elements)
      fail(node_label(n) + ": its output " + dims_str(s) + " has more than " + std::to_string(options_.max_elements) +
           " elements (LoadOptions::max_elements)");
    if (s.size() <= 4) {
      Shape shape;
      for (std::int64_t d : s) shape.push(d);
      def_.expected_shapes[n.output(0)] = shape;
    }
  }

  // ---- 6. translation ----
  const AttributeProto* attr(const NodeProto& n, const std::string& name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  std::int64_t attr_i(const NodeProto& n, const std::string& name, std::int64_t dflt) const {
    const AttributeProto* a = attr(n, name);
    if (!a) return dflt;
    if (a->type() != AttributeProto::INT) fail(node_label(n) + ": attribute '" + name + "' is not an integer");
    return a->i();
  }
  double attr_f(const NodeProto& n, const std::string& name, double dflt) const {
    const AttributeProto* a = attr(n, name);
    if (!a) return dflt;
    if (a->type() != AttributeProto::FLOAT) fail(node_label(n) + ": attribute '" + name + "' is not a float");
    return a->f();
  }
  std::string attr_s(const NodeProto& n, const std::string& name, const std::string& dflt) const {
    const AttributeProto* a = attr(n, name);
    if (!a) return dflt;
    if (a->type() != AttributeProto::STRING) fail(node_label(n) + ": attribute '" + name + "' is not a string");
    return a->s();
  }
  std::vector<std::int64_t> attr_ints(const NodeProto& n, const std::string& name, std::vector<std::int64_t> dflt) const {
    const AttributeProto* a = attr(n, name);
    if (!a) return dflt;
    if (a->type() != AttributeProto::INTS) fail(node_label(n) + ": attribute '" + name + "' is not a list of integers");
    return {a->ints().begin(), a->ints().end()};
  }
  [[noreturn]] void unsupported_attr(const NodeProto& n, const std::string& what) const {
    fail(node_label(n) + ", opset " + std::to_string(opset_) + ": " + what + " is not supported");
  }

  // d with its values: a constant whose f use_constant freed gets it back from the GraphDef.
  const Data* restored(const Data& d) const {
    if (!d.moved_to.empty() && d.f.empty()) {
      const Tensor<double> t = def_.constants.at(d.moved_to).to_double();
      d.f.assign(t.begin(), t.end());
    }
    return &d;
  }

  // Drops the values restored() gave back to a weight held in the GraphDef, once read.
  static void forget(const Data& d) {
    if (!d.moved_to.empty()) std::vector<double>().swap(d.f);
  }

  // The value of a constant input (an initializer, a Constant node, or an Identity of one).
  const Data* constant(std::string name) const {
    for (int hops = 0; hops < 8; ++hops) {
      auto d = data_.find(name);
      if (d != data_.end()) return restored(d->second);
      auto p = producer_.find(name);
      if (p == producer_.end()) return nullptr;
      const NodeProto& n = model_.graph().node(p->second);
      if (n.op_type() == "Constant") {
        auto c = constant_nodes_.find(name);
        return c == constant_nodes_.end() ? nullptr : restored(c->second);
      }
      if (n.op_type() != "Identity") return nullptr;
      name = n.input(0);
    }
    return nullptr;
  }
  const Data& need_constant(const NodeProto& n, int k, const char* what) const {
    if (n.input_size() <= k || n.input(k).empty()) fail(node_label(n) + ": " + what + " is missing");
    const Data* d = constant(n.input(k));
    if (!d) d = folded(n, n.input(k), what);
    if (!d) fail(node_label(n) + ": " + what + " ('" + n.input(k) + "') must be a constant");
    return *d;
  }

  // ---- integer shape arithmetic, folded at load ----
  // torch writes the bounds of some Slices (nn.MultiheadAttention's q/k/v split of the packed
  // projection) as arithmetic on Shape: Shape -> Gather -> Add/Div/Mul -> Slice. ONNX's data
  // propagation does not cover Div, so gradattr evaluates such integer subgraphs itself, on
  // 1-D integer vectors, with the shapes of ONNX's shape inference, at batch 1 and at batch 2:
  // a value that differs between the two depends on the batch and is refused where a constant
  // is needed. Ops: Constant, initializers, Identity, Shape, Gather (axis 0), Unsqueeze,
  // Squeeze, Reshape, Concat (axis 0), Slice, Cast, Add, Sub, Mul, Div, Equal, Where,
  // ConstantOfShape. Anything else is not folded (nullopt) and the caller says what it needed.
  using Ints = std::vector<std::int64_t>;
  using Shapes = std::map<std::string, std::vector<std::int64_t>>;
  using IntsMemo = std::map<std::string, std::optional<Ints>>;
  std::optional<Ints> eval_ints(const std::string& name, const Shapes& shapes, IntsMemo& memo, int depth = 0) const {
    if (depth > 64) return std::nullopt;
    if (auto m = memo.find(name); m != memo.end()) return m->second;
    std::optional<Ints> out = eval_ints_uncached(name, shapes, memo, depth);
    memo[name] = out;
    return out;
  }
  std::optional<Ints> eval_ints_uncached(const std::string& name, const Shapes& shapes, IntsMemo& memo, int depth) const {
    if (const Data* d = constant(name)) {
      if (!d->floating) return d->i;
      Ints v;
      for (double f : d->f) {
        if (!(std::abs(f) < 9e15) || f != std::trunc(f)) return std::nullopt;
        v.push_back(static_cast<std::int64_t>(f));
      }
      return v;
    }
    auto p = producer_.find(name);
    if (p == producer_.end()) return std::nullopt;
    const NodeProto& n = model_.graph().node(p->second);
    const std::string& op = n.op_type();
    auto in = [&](int k) { return k < n.input_size() && !n.input(k).empty() ? eval_ints(n.input(k), shapes, memo, depth + 1) : std::nullopt; };
    if (op == "Identity" || op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Cast") return in(0);
    if (op == "Shape") {
      auto it = shapes.find(n.input(0));
      if (it == shapes.end()) return std::nullopt;
      Ints v = it->second;
      for (std::int64_t d : v)
        if (d < 0) return std::nullopt;
      const auto r = static_cast<std::int64_t>(v.size());
      auto clampi = [r](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + r : i, 0, r); };
      const std::int64_t b = clampi(attr_i(n, "start", 0)), e = clampi(attr_i(n, "end", r));
      return e > b ? Ints(v.begin() + b, v.begin() + e) : Ints{};
    }
    if (op == "Gather") {
      if (attr_i(n, "axis", 0) != 0) return std::nullopt;
      auto x = in(0), idx = in(1);
      if (!x || !idx) return std::nullopt;
      Ints v;
      const auto size = static_cast<std::int64_t>(x->size());
      for (std::int64_t i : *idx) {
        if (i < -size || i >= size) return std::nullopt;
        v.push_back((*x)[static_cast<std::size_t>(i < 0 ? i + size : i)]);
      }
      return v;
    }
    if (op == "Concat") {
      Ints v;
      for (int k = 0; k < n.input_size(); ++k) {
        auto x = in(k);
        if (!x) return std::nullopt;
        v.insert(v.end(), x->begin(), x->end());
      }
      return v;
    }
    if (op == "Slice" && opset_ >= 10) {
      auto x = in(0), st = in(1), en = in(2);
      if (!x || !st || !en || st->size() != 1 || en->size() != 1) return std::nullopt;
      if (has_input(n, 3)) {
        auto ax = in(3);
        if (!ax || ax->size() != 1 || ((*ax)[0] != 0 && (*ax)[0] != -1)) return std::nullopt;
      }
      std::int64_t step = 1;
      if (has_input(n, 4)) {
        auto sp = in(4);
        if (!sp || sp->size() != 1 || (*sp)[0] <= 0) return std::nullopt;
        step = (*sp)[0];
      }
      const auto size = static_cast<std::int64_t>(x->size());
      auto clampi = [size](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + size : i, 0, size); };
      Ints v;
      for (std::int64_t i = clampi((*st)[0]); i < clampi((*en)[0]); i += step) v.push_back((*x)[static_cast<std::size_t>(i)]);
      return v;
    }
    if (op == "ConstantOfShape") {
      auto shape = in(0);
      if (!shape) return std::nullopt;
      std::int64_t count = 1;
      for (std::int64_t d : *shape) {
        if (d < 0 || d > (1 << 16)) return std::nullopt;
        count *= d;  // <= 2^32: checked every step
        if (count > (1 << 16)) return std::nullopt;
      }
      std::int64_t value = 0;
      if (const AttributeProto* a = attr(n, "value")) {
        Data d = decode(a->t(), node_label(n) + " value");
        if (d.numel() != 1) return std::nullopt;
        if (d.floating && d.f[0] != std::trunc(d.f[0])) return std::nullopt;
        value = d.floating ? static_cast<std::int64_t>(d.f[0]) : d.i[0];
      }
      return Ints(static_cast<std::size_t>(count), value);
    }
    // Elementwise, with a one-element operand broadcast.
    auto elementwise = [&](int arity, auto f) -> std::optional<Ints> {
      std::vector<Ints> xs;
      std::size_t size = 1;
      for (int k = 0; k < arity; ++k) {
        auto x = in(k);
        if (!x) return std::nullopt;
        if (x->size() != 1) {
          if (size != 1 && x->size() != size) return std::nullopt;
          size = x->size();
        }
        xs.push_back(std::move(*x));
      }
      for (const Ints& x : xs)
        if (x.empty()) return std::nullopt;
      Ints v(size);
      for (std::size_t i = 0; i < size; ++i) {
        Ints args;
        for (const Ints& x : xs) args.push_back(x[x.size() == 1 ? 0 : i]);
        auto r = f(args);
        if (!r) return std::nullopt;
        v[i] = *r;
      }
      return v;
    };
    using R = std::optional<std::int64_t>;
    // A file's integers may overflow: such a value is not folded (never signed overflow).
    using Builtin = bool (*)(std::int64_t, std::int64_t, std::int64_t*);
    auto checked = [&](Builtin f) {
      return elementwise(2, [f](const Ints& a) -> R {
        std::int64_t r = 0;
        return f(a[0], a[1], &r) ? R() : R(r);
      });
    };
    if (op == "Add") return checked([](std::int64_t a, std::int64_t b, std::int64_t* r) { return __builtin_add_overflow(a, b, r); });
    if (op == "Sub") return checked([](std::int64_t a, std::int64_t b, std::int64_t* r) { return __builtin_sub_overflow(a, b, r); });
    if (op == "Mul") return checked([](std::int64_t a, std::int64_t b, std::int64_t* r) { return __builtin_mul_overflow(a, b, r); });
    if (op == "Div")
      return elementwise(2, [](const Ints& a) -> R {
        if (a[1] == 0 || (a[0] == std::numeric_limits<std::int64_t>::min() && a[1] == -1)) return R();
        return a[0] / a[1];
      });
    if (op == "Equal") return elementwise(2, [](const Ints& a) -> R { return a[0] == a[1] ? 1 : 0; });
    if (op == "Where") return elementwise(3, [](const Ints& a) -> R { return a[0] != 0 ? a[1] : a[2]; });
    return std::nullopt;
  }
  // The integer value `name` folds to, the same at batch 1 and 2; null if it does not fold.
  const Data* folded(const NodeProto& n, const std::string& name, const char* what) const {
    if (auto f = folded_.find(name); f != folded_.end()) return &f->second;
    const auto v1 = eval_ints(name, shapes1_, ints1_), v2 = eval_ints(name, shapes2_, ints2_);
    if (!v1 || !v2) return nullptr;
    if (*v1 != *v2)
      fail(node_label(n) + ": " + what + " ('" + name + "') is computed from the batch size (" + dims_str(*v1) +
           " at batch 1, " + dims_str(*v2) + " at batch 2); gradattr needs it fixed");
    Data d;
    d.floating = false;
    d.i = *v1;
    d.dims = {static_cast<std::int64_t>(v1->size())};
    return &(folded_[name] = std::move(d));
  }
  std::vector<std::int64_t> const_ints(const NodeProto& n, int k, const char* what) const {
    const Data& d = need_constant(n, k, what);
    if (d.floating) fail(node_label(n) + ": " + what + " must be integers");
    return d.i;
  }
  double const_scalar(const NodeProto& n, int k, const char* what) const {
    const Data& d = need_constant(n, k, what);
    if (d.numel() != 1) fail(node_label(n) + ": " + what + " must hold one value");
    return d.floating ? d.f[0] : static_cast<double>(d.i[0]);
  }
  bool has_input(const NodeProto& n, int k) const { return n.input_size() > k && !n.input(k).empty(); }

  void decode_constant_nodes() {
    for (const NodeProto& n : model_.graph().node()) {
      if (n.op_type() != "Constant" || n.output_size() != 1) continue;
      Data d;
      if (const AttributeProto* a = attr(n, "value")) {
        d = decode(a->t(), node_label(n) + " value");
      } else if (const AttributeProto* a = attr(n, "value_float")) {
        d.f = {a->f()};
      } else if (const AttributeProto* a = attr(n, "value_floats")) {
        d.f.assign(a->floats().begin(), a->floats().end());
        d.dims = {static_cast<std::int64_t>(d.f.size())};
      } else if (const AttributeProto* a = attr(n, "value_int")) {
        d.floating = false;
        d.i = {a->i()};
      } else if (const AttributeProto* a = attr(n, "value_ints")) {
        d.floating = false;
        d.i.assign(a->ints().begin(), a->ints().end());
        d.dims = {static_cast<std::int64_t>(d.i.size())};
      } else {
        continue;  // reported if a translated node reads it
      }
      constant_nodes_[n.output(0)] = std::move(d);
    }
  }

  // A float constant as a graph constant (added to the GraphDef once).
  std::string use_constant(const std::string& name, const NodeProto& n) {
    const std::string v = resolve(name);
    if (def_.constants.contains(v)) return v;
    const Data* d = constant(v);
    if (!d) return v;
    if (!d->floating) fail(node_label(n) + ": '" + v + "' holds integers where a tensor of numbers is computed");
    Shape s;
    for (std::int64_t dim : d->dims) s.push(dim);
    def_.constants[v] = Tensor<double>(s, d->f);
    if (d->f.size() >= kWeightElements) {  // the weights: hold them once (constant() restores)
      Data& m = const_cast<Data&>(*d);
      m.moved_to = v;
      std::vector<double>().swap(m.f);
    }
    return v;
  }
  std::string resolve(const std::string& v) const {
    auto a = alias_.find(v);
    return a == alias_.end() ? v : a->second;
  }

  void emit(const NodeProto& n, Op op, std::vector<std::string> inputs, graph::Attrs a = {}) {
    NodeDef d;
    d.name = n.name().empty() ? n.op_type() + "_" + n.output(0) : n.name();
    d.op = op;
    for (auto& in : inputs) d.inputs.push_back(use_constant(in, n));
    d.output = n.output(0);
    d.attrs = std::move(a);
    def_.nodes.push_back(std::move(d));
  }

  // The nodes the logits depend on, through the inputs each op computes with (a Reshape's
  // target, a Clip's bounds etc. are read as constants, not computed).
  std::vector<bool> needed_nodes(const std::string& out) const {
    const GraphProto& g = model_.graph();
    std::vector<bool> need(static_cast<std::size_t>(g.node_size()), false);
    std::vector<std::string> todo{out};
    while (!todo.empty()) {
      const std::string v = todo.back();
      todo.pop_back();
      auto p = producer_.find(v);
      if (p == producer_.end() || need[static_cast<std::size_t>(p->second)]) continue;
      const NodeProto& n = g.node(p->second);
      if (n.op_type() == "Constant") continue;
      need[static_cast<std::size_t>(p->second)] = true;
      const int data_inputs = data_input_count(n);
      for (int k = 0; k < n.input_size() && k < data_inputs; ++k)
        if (!n.input(k).empty()) todo.push_back(n.input(k));
    }
    return need;
  }
  static int data_input_count(const NodeProto& n) {
    static const std::map<std::string, int> first_only = {
        {"BatchNormalization", 1}, {"Clip", 1}, {"Reshape", 1}, {"Pad", 1}, {"Slice", 1}, {"Squeeze", 1},
        {"Unsqueeze", 1}, {"ReduceSum", 1}, {"ReduceMean", 1}, {"Pow", 1}, {"Gemm", 1}, {"Dropout", 1},
        {"Gather", 1}, {"Expand", 1}};
    auto it = first_only.find(n.op_type());
    return it == first_only.end() ? n.input_size() : it->second;
  }


  void translate() {
    const GraphProto& g = model_.graph();
    std::vector<std::int64_t> in1 = input_dims(1);
    def_.source = path_;
    def_.input = input_;
    if (in1[1] * in1[2] > options_.max_elements / in1[3])
      fail("input '" + input_ + "' " + dims_str(in1) + " has more than " + std::to_string(options_.max_elements) +
           " elements (LoadOptions::max_elements)");
    def_.input_shape = Shape{in1[0], in1[1], in1[2], in1[3]};
    // A terminal Softmax / LogSoftmax: the logits are its input (Pre needs them).
    std::string out = output_;
    {
      const NodeProto& last = g.node(producer_.at(out));
      if (last.op_type() == "Softmax" || last.op_type() == "LogSoftmax") {
        out = last.input(0);
        def_.notes.push_back("the model ends in " + last.op_type() + " (node '" + last.name() +
                             "'): its input '" + out + "' is used as the logits");
      }
    }
    const std::vector<bool> need = needed_nodes(out);
    std::vector<std::string> unsupported;
    const auto& table = translators();
    for (int i = 0; i < g.node_size(); ++i) {
      if (!need[static_cast<std::size_t>(i)]) continue;
      const NodeProto& n = g.node(i);
      if (!table.contains(n.op_type())) unsupported.push_back(node_label(n));
    }
    if (!unsupported.empty()) {
      std::string msg = std::to_string(unsupported.size()) + " node(s) use ops gradattr does not run (opset " +
                        std::to_string(opset_) + "):";
      for (std::size_t k = 0; k < unsupported.size() && k < 20; ++k) msg += " " + unsupported[k] + (k + 1 < unsupported.size() ? "," : "");
      if (unsupported.size() > 20) msg += " ...";
      fail(msg + "; docs/models.md lists the supported ops");
    }
    for (int i = 0; i < g.node_size(); ++i) {
      if (!need[static_cast<std::size_t>(i)]) continue;
      const NodeProto& n = g.node(i);
      if (n.output_size() < 1 || n.output(0).empty()) fail(node_label(n) + " has no output");
      check_size(n);
      for (int k = 1; k < n.output_size(); ++k)
        if (!n.output(k).empty() && reads_.contains(n.output(k)))
          unsupported_attr(n, "reading its output " + std::to_string(k) + " ('" + n.output(k) + "')");
      table.at(n.op_type())(*this, n);
    }
    def_.output = resolve(out);
    if (def_.output == input_) fail("the output is the input: the graph computes nothing");
  }

 public:
  using Translator = std::function<void(Importer&, const NodeProto&)>;
  // The one list of ONNX ops gradattr runs (defined after the class).
  static const std::map<std::string, Translator>& translators();

  // Translation helpers used by the table.
  void unary(const NodeProto& n, Op op, graph::Attrs a = {}) { emit(n, op, {resolve(n.input(0))}, std::move(a)); }
  void binary(const NodeProto& n, Op op) { emit(n, op, {resolve(n.input(0)), resolve(n.input(1))}); }
  void alias(const NodeProto& n) { alias_[n.output(0)] = resolve(n.input(0)); }

  // Reshape-like ops: the target from the inferred output shapes at batch 1 and 2.
  void reshape(const NodeProto& n) { unary(n, Op::Reshape, batch_target(n)); }

  // The output shape as a target whose extents that double from batch 1 to 2 are per batch.
  graph::Attrs batch_target(const NodeProto& n) const {
    const auto& s1 = shape_of(n.output(0), n, 1);
    const auto& s2 = shape_of(n.output(0), n, 2);
    if (s1.size() != s2.size()) fail(node_label(n) + ": its output rank depends on the batch size");
    if (s1.size() > 4) fail(node_label(n) + ": output rank " + std::to_string(s1.size()) + "; gradattr tensors have rank <= 4");
    graph::Attrs a;
    for (std::size_t k = 0; k < s1.size(); ++k) {
      if (s2[k] == s1[k]) a.target.push_back({s1[k], false});
      else if (s2[k] == 2 * s1[k]) a.target.push_back({s1[k], true});
      else fail(node_label(n) + ": output dimension " + std::to_string(k) + " is not proportional to the batch size");
    }
    return a;
  }

  // ONNX Expand: the output shape from shape inference (the class token repeated over the batch).
  void expand(const NodeProto& n) { unary(n, Op::Expand, batch_target(n)); }

  // ONNX Gather on a computed tensor with constant indices (a ViT's `x[:, 0]`): a scalar index
  // drops the axis; a 1-D list keeps it.
  void gather(const NodeProto& n) {
    const Data& idx = need_constant(n, 1, "indices");
    if (idx.floating) fail(node_label(n) + ": indices must be integers");
    if (idx.dims.size() > 1) unsupported_attr(n, "indices of rank " + std::to_string(idx.dims.size()));
    graph::Attrs a;
    a.axis = attr_i(n, "axis", 0);
    a.starts = idx.i;
    a.keepdims = !idx.dims.empty();
    unary(n, Op::Gather, std::move(a));
  }

  // ONNX LayerNormalization (opset 17): over the dimensions [axis, rank); the Mean and
  // InvStdDev outputs may not be read (checked for every node in translate()).
  void layer_norm(const NodeProto& n) {
    graph::Attrs a;
    a.axis = attr_i(n, "axis", -1);
    a.alpha = attr_f(n, "epsilon", 1e-5);
    std::vector<std::string> in{resolve(n.input(0)), resolve(n.input(1))};
    if (has_input(n, 2)) in.push_back(resolve(n.input(2)));
    emit(n, Op::LayerNorm, in, a);
  }

  void conv(const NodeProto& n) {
    const auto& w = shape_of(n.input(1), n);
    if (w.size() != 4) unsupported_attr(n, "a " + std::to_string(static_cast<int>(w.size()) - 2) + "-D convolution");
    const auto& x = shape_of(n.input(0), n);
    auto ks = attr_ints(n, "kernel_shape", {w[2], w[3]});
    auto st = attr_ints(n, "strides", {1, 1});
    auto dil = attr_ints(n, "dilations", {1, 1});
    auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (ks.size() != 2 || ks[0] != w[2] || ks[1] != w[3]) fail(node_label(n) + ": kernel_shape disagrees with the weight");
    if (st.size() != 2 || dil.size() != 2 || pads.size() != 4) fail(node_label(n) + ": strides/dilations/pads of the wrong length");
    const std::int64_t group = attr_i(n, "group", 1);
    auto pads_ = auto_pads(n, {x[2], x[3]}, ks, st, dil, pads);
    graph::Attrs a;
    auto& p = a.conv;
    p.stride_h = to_int(st[0], n), p.stride_w = to_int(st[1], n);
    p.pad_h = to_int(pads_[0], n), p.pad_w = to_int(pads_[1], n);
    p.pad_bottom = to_int(pads_[2], n), p.pad_right = to_int(pads_[3], n);
    p.dilation_h = to_int(dil[0], n), p.dilation_w = to_int(dil[1], n);
    p.groups = to_int(group, n);
    std::vector<std::string> in{resolve(n.input(0)), n.input(1)};
    if (has_input(n, 2)) in.push_back(n.input(2));
    emit(n, Op::Conv, in, a);
  }

  void pool(const NodeProto& n, Op op) {
    const auto& x = shape_of(n.input(0), n);
    if (x.size() != 4) unsupported_attr(n, "pooling of rank " + std::to_string(x.size()));
    auto ks = attr_ints(n, "kernel_shape", {});
    if (ks.size() != 2) fail(node_label(n) + ": kernel_shape must have two values");
    auto st = attr_ints(n, "strides", {1, 1});
    auto dil = attr_ints(n, "dilations", {1, 1});
    auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (st.size() != 2 || pads.size() != 4) fail(node_label(n) + ": strides/pads of the wrong length");
    if (dil != std::vector<std::int64_t>{1, 1}) unsupported_attr(n, "dilations other than 1");
    if (attr_i(n, "storage_order", 0) != 0) unsupported_attr(n, "storage_order=1");
    const bool ceil = attr_i(n, "ceil_mode", 0) != 0;
    auto pads_ = auto_pads(n, {x[2], x[3]}, ks, st, dil, pads);
    graph::Attrs a;
    auto& p = a.pool;
    p.kernel_h = to_int(ks[0], n), p.kernel_w = to_int(ks[1], n);
    p.stride_h = to_int(st[0], n), p.stride_w = to_int(st[1], n);
    p.pad_h = to_int(pads_[0], n), p.pad_w = to_int(pads_[1], n);
    p.pad_bottom = to_int(pads_[2], n), p.pad_right = to_int(pads_[3], n);
    p.ceil_mode = ceil;
    a.count_include_pad = attr_i(n, "count_include_pad", 0) != 0;
    unary(n, op, a);
  }

  int to_int(std::int64_t v, const NodeProto& n) const {
    if (v < 0 || v > 1 << 20) fail(node_label(n) + ": attribute value " + std::to_string(v) + " is out of range");
    return static_cast<int>(v);
  }

  // pads [top, left, bottom, right] from auto_pad (ONNX: SAME_UPPER puts the odd one at the end).
  std::vector<std::int64_t> auto_pads(const NodeProto& n, std::vector<std::int64_t> in, const std::vector<std::int64_t>& k,
                                      const std::vector<std::int64_t>& s, const std::vector<std::int64_t>& d,
                                      std::vector<std::int64_t> pads) const {
    const std::string mode = attr_s(n, "auto_pad", "NOTSET");
    if (mode == "NOTSET") return pads;
    if (mode == "VALID") return {0, 0, 0, 0};
    if (mode != "SAME_UPPER" && mode != "SAME_LOWER") unsupported_attr(n, "auto_pad='" + mode + "'");
    for (int i = 0; i < 2; ++i) {
      if (s[i] <= 0) fail(node_label(n) + ": strides must be positive");
      const std::int64_t out = (in[i] + s[i] - 1) / s[i];
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i]);
      const std::int64_t small = total / 2, big = total - small;
      pads[i] = mode == "SAME_UPPER" ? small : big;
      pads[i + 2] = mode == "SAME_UPPER" ? big : small;
    }
    return pads;
  }

  void batchnorm(const NodeProto& n) {
    if (attr_i(n, "training_mode", 0) != 0) unsupported_attr(n, "training_mode=1");
    const double eps = attr_f(n, "epsilon", 1e-5);
    const Data& scale = need_constant(n, 1, "scale");
    const Data& bias = need_constant(n, 2, "B");
    const Data& mean = need_constant(n, 3, "mean");
    const Data& var = need_constant(n, 4, "var");
    const std::size_t c = scale.f.size();
    if (!scale.floating || !bias.floating || !mean.floating || !var.floating || bias.f.size() != c ||
        mean.f.size() != c || var.f.size() != c || c == 0)
      fail(node_label(n) + ": scale, B, mean and var must be float vectors of one length");
    Tensor<double> s(Shape{static_cast<std::int64_t>(c)}), t(Shape{static_cast<std::int64_t>(c)});
    for (std::size_t i = 0; i < c; ++i) {
      if (!(var.f[i] + eps > 0)) fail(node_label(n) + ": var + epsilon is not positive at channel " + std::to_string(i));
      s[static_cast<std::int64_t>(i)] = scale.f[i] / std::sqrt(var.f[i] + eps);
      t[static_cast<std::int64_t>(i)] = bias.f[i] - mean.f[i] * s[static_cast<std::int64_t>(i)];
    }
    const std::string base = n.name().empty() ? n.output(0) : n.name();
    def_.constants[base + "::scale"] = s;
    def_.constants[base + "::shift"] = t;
    emit(n, Op::ChannelAffine, {resolve(n.input(0)), base + "::scale", base + "::shift"});
  }

  void gemm(const NodeProto& n) {
    const double alpha = attr_f(n, "alpha", 1.0), beta = attr_f(n, "beta", 1.0);
    const bool ta = attr_i(n, "transA", 0) != 0, tb = attr_i(n, "transB", 0) != 0;
    if (ta) unsupported_attr(n, "transA=1");
    const Data& b = need_constant(n, 1, "B");
    if (!b.floating || b.dims.size() != 2) fail(node_label(n) + ": B must be a float matrix");
    const std::int64_t out = tb ? b.dims[0] : b.dims[1], in = tb ? b.dims[1] : b.dims[0];
    // w [out, in] = alpha B (transposed unless transB), built only where it differs from B
    auto weight = [&] {
      Tensor<double> w(Shape{out, in});
      for (std::int64_t o = 0; o < out; ++o)
        for (std::int64_t i = 0; i < in; ++i)
          w[o * in + i] = alpha * b.f[static_cast<std::size_t>(tb ? o * in + i : i * out + o)];
      return w;
    };
    const std::string base = n.name().empty() ? n.output(0) : n.name();
    if (shape_of(n.input(0), n)[0] > 1) {  // rows beyond the batch: a transformer's tokens
      gemm_on_tokens(n, weight(), base, beta);
      forget(b);
      return;
    }
    std::vector<std::string> inputs{resolve(n.input(0)), n.input(1)};
    if (alpha != 1.0 || !tb) {
      def_.constants[base + "::weight"] = weight();
      inputs[1] = base + "::weight";
    }
    forget(b);
    if (has_input(n, 2)) {
      const Data& c = need_constant(n, 2, "C");
      if (!c.floating || (c.f.size() != static_cast<std::size_t>(out) && c.f.size() != 1))
        unsupported_attr(n, "a bias C that is not [" + std::to_string(out) + "]");
      Tensor<double> bias(Shape{out});
      for (std::int64_t o = 0; o < out; ++o) bias[o] = beta * c.f[c.f.size() == 1 ? 0 : static_cast<std::size_t>(o)];
      def_.constants[base + "::bias"] = bias;
      inputs.push_back(base + "::bias");
    }
    emit(n, Op::Linear, inputs);
  }

  // A Gemm whose input has several rows per image (a ViT's attention out-projection on [T, D]
  // tokens) as MatMul(x, w^T) then Add(bias): the MatMul kernels run the packed GEMM on all the
  // threads (kernels/fast/gemm.hpp); Linear's kernels are tuned for a CNN head's few rows.
  void gemm_on_tokens(const NodeProto& n, const Tensor<double>& w, const std::string& base, double beta) {
    const std::int64_t out = w.dim(0), in = w.dim(1);
    Tensor<double> wt(Shape{in, out});
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t i = 0; i < in; ++i) wt[i * out + o] = w[o * in + i];
    def_.constants[base + "::weight_t"] = std::move(wt);
    NodeDef mm;
    mm.name = n.name().empty() ? n.op_type() + "_" + n.output(0) : n.name();
    mm.op = Op::MatMul;
    mm.inputs = {resolve(n.input(0)), base + "::weight_t"};
    mm.output = has_input(n, 2) ? base + "::product" : n.output(0);
    def_.nodes.push_back(mm);
    if (!has_input(n, 2)) return;
    const Data& c = need_constant(n, 2, "C");
    if (!c.floating || (c.f.size() != static_cast<std::size_t>(out) && c.f.size() != 1))
      unsupported_attr(n, "a bias C that is not [" + std::to_string(out) + "]");
    Tensor<double> bias(Shape{out});
    for (std::int64_t o = 0; o < out; ++o) bias[o] = beta * c.f[c.f.size() == 1 ? 0 : static_cast<std::size_t>(o)];
    def_.constants[base + "::bias"] = std::move(bias);
    NodeDef add = mm;
    add.op = Op::Add;
    add.inputs = {mm.output, base + "::bias"};
    add.output = n.output(0);
    def_.nodes.push_back(std::move(add));
  }

  void clip(const NodeProto& n) {
    graph::Attrs a;
    a.lo = -std::numeric_limits<double>::infinity();
    a.hi = std::numeric_limits<double>::infinity();
    if (opset_ < 11) {
      a.lo = attr_f(n, "min", a.lo);
      a.hi = attr_f(n, "max", a.hi);
    } else {
      if (has_input(n, 1)) a.lo = const_scalar(n, 1, "min");
      if (has_input(n, 2)) a.hi = const_scalar(n, 2, "max");
    }
    unary(n, Op::Clip, a);
  }

  std::int64_t rank_of(const NodeProto& n, int k) const {
    return static_cast<std::int64_t>(shape_of(n.input(k), n).size());
  }

  void reduce(const NodeProto& n, Op op) {
    graph::Attrs a;
    a.keepdims = attr_i(n, "keepdims", 1) != 0;
    const bool axes_as_input = op == Op::ReduceSum ? opset_ >= 13 : opset_ >= 18;
    if (axes_as_input) {
      if (has_input(n, 1)) a.axes = const_ints(n, 1, "axes");
      if (a.axes.empty() && attr_i(n, "noop_with_empty_axes", 0) != 0) unsupported_attr(n, "noop_with_empty_axes=1");
    } else {
      a.axes = attr_ints(n, "axes", {});
    }
    unary(n, op, a);
  }

  void softmax(const NodeProto& n, Op op) {
    graph::Attrs a;
    const std::int64_t rank = rank_of(n, 0);
    a.axis = attr_i(n, "axis", opset_ >= 13 ? -1 : 1);
    if (opset_ < 13 && a.axis != -1 && a.axis != rank - 1)
      unsupported_attr(n, "a softmax before opset 13 over more than its last axis");
    unary(n, op, a);
  }

  void pad(const NodeProto& n) {
    if (attr_s(n, "mode", "constant") != "constant") unsupported_attr(n, "mode='" + attr_s(n, "mode", "") + "'");
    graph::Attrs a;
    if (opset_ < 11) {
      a.pads = attr_ints(n, "pads", {});
      a.value = attr_f(n, "value", 0.0);
    } else {
      a.pads = const_ints(n, 1, "pads");
      if (has_input(n, 2)) a.value = const_scalar(n, 2, "constant_value");
      if (has_input(n, 3)) unsupported_attr(n, "the axes input");
    }
    unary(n, Op::Pad, a);
  }

  void slice(const NodeProto& n) {
    graph::Attrs a;
    if (opset_ < 10) {
      a.starts = attr_ints(n, "starts", {});
      a.ends = attr_ints(n, "ends", {});
      a.axes = attr_ints(n, "axes", {});
    } else {
      a.starts = const_ints(n, 1, "starts");
      a.ends = const_ints(n, 2, "ends");
      if (has_input(n, 3)) a.axes = const_ints(n, 3, "axes");
      if (has_input(n, 4)) a.steps = const_ints(n, 4, "steps");
    }
    unary(n, Op::Slice, a);
  }

  void transpose(const NodeProto& n) {
    graph::Attrs a;
    a.perm = attr_ints(n, "perm", {});
    if (a.perm.empty())
      for (std::int64_t k = rank_of(n, 0) - 1; k >= 0; --k) a.perm.push_back(k);
    unary(n, Op::Transpose, a);
  }

  void concat(const NodeProto& n) {
    graph::Attrs a;
    if (!attr(n, "axis")) fail(node_label(n) + ": attribute 'axis' is missing");
    a.axis = attr_i(n, "axis", 0);
    std::vector<std::string> in;
    for (const auto& i : n.input()) in.push_back(resolve(i));
    emit(n, Op::Concat, in, a);
  }

  void pow(const NodeProto& n) {
    graph::Attrs a;
    a.alpha = const_scalar(n, 1, "exponent");
    unary(n, Op::Pow, a);
  }

  void hard_sigmoid(const NodeProto& n) {
    graph::Attrs a;
    a.alpha = attr_f(n, "alpha", 0.2);
    a.beta = attr_f(n, "beta", 0.5);
    unary(n, Op::HardSigmoid, a);
  }

  void dropout(const NodeProto& n) {
    if (n.output_size() > 1 && !n.output(1).empty() && reads_.contains(n.output(1))) unsupported_attr(n, "reading the mask");
    alias(n);
  }

  void cast(const NodeProto& n) {
    const std::int64_t to = attr_i(n, "to", 0);
    if (to != TensorProto::FLOAT && to != TensorProto::DOUBLE && to != TensorProto::FLOAT16)
      unsupported_attr(n, "a Cast to " + type_name(static_cast<int>(to)) + " on the computed path");
    alias(n);  // gradattr computes every float type in T
  }

 private:
  std::string path_;
  LoadOptions options_;
  ModelProto model_;
  std::int64_t opset_ = 0;
  std::string input_, output_;
  std::map<std::string, int> producer_;
  std::set<std::string> reads_;
  std::map<std::string, Data> data_, constant_nodes_;
  std::map<std::string, std::vector<std::int64_t>> shapes1_, shapes2_;
  mutable std::map<std::string, std::optional<std::vector<std::int64_t>>> ints1_, ints2_;  // eval_ints
  mutable std::map<std::string, Data> folded_;
  std::map<std::string, std::string> alias_;
  GraphDef def_;

  void collect_reads() {
    for (const NodeProto& n : model_.graph().node())
      for (const auto& i : n.input()) reads_.insert(i);
    reads_.insert(output_);
  }
};

// The one list of ONNX ops gradattr runs: op type -> translation (docs/models.md).
const std::map<std::string, Importer::Translator>& Importer::translators() {
  static const std::map<std::string, Translator> table = {
      {"Conv", [](Importer& m, const NodeProto& n) { m.conv(n); }},
      {"BatchNormalization", [](Importer& m, const NodeProto& n) { m.batchnorm(n); }},
      {"Gemm", [](Importer& m, const NodeProto& n) { m.gemm(n); }},
      {"MatMul", [](Importer& m, const NodeProto& n) { m.binary(n, Op::MatMul); }},
      {"Relu", [](Importer& m, const NodeProto& n) { m.unary(n, Op::Relu); }},
      {"Clip", [](Importer& m, const NodeProto& n) { m.clip(n); }},
      {"Sigmoid", [](Importer& m, const NodeProto& n) { m.unary(n, Op::Sigmoid); }},
      {"HardSigmoid", [](Importer& m, const NodeProto& n) { m.hard_sigmoid(n); }},
      {"HardSwish", [](Importer& m, const NodeProto& n) { m.unary(n, Op::HardSwish); }},
      {"Tanh", [](Importer& m, const NodeProto& n) { m.unary(n, Op::Tanh); }},
      {"Erf", [](Importer& m, const NodeProto& n) { m.unary(n, Op::Erf); }},
      {"Sqrt", [](Importer& m, const NodeProto& n) { m.unary(n, Op::Sqrt); }},
      {"Pow", [](Importer& m, const NodeProto& n) { m.pow(n); }},
      {"Add", [](Importer& m, const NodeProto& n) { m.binary(n, Op::Add); }},
      {"Sub", [](Importer& m, const NodeProto& n) { m.binary(n, Op::Sub); }},
      {"Mul", [](Importer& m, const NodeProto& n) { m.binary(n, Op::Mul); }},
      {"Div", [](Importer& m, const NodeProto& n) { m.binary(n, Op::Div); }},
      {"MaxPool", [](Importer& m, const NodeProto& n) { m.pool(n, Op::MaxPool); }},
      {"AveragePool", [](Importer& m, const NodeProto& n) { m.pool(n, Op::AveragePool); }},
      {"GlobalAveragePool", [](Importer& m, const NodeProto& n) { m.unary(n, Op::GlobalAveragePool); }},
      {"ReduceMean", [](Importer& m, const NodeProto& n) { m.reduce(n, Op::ReduceMean); }},
      {"ReduceSum", [](Importer& m, const NodeProto& n) { m.reduce(n, Op::ReduceSum); }},
      {"Concat", [](Importer& m, const NodeProto& n) { m.concat(n); }},
      {"Flatten", [](Importer& m, const NodeProto& n) { m.reshape(n); }},
      {"Reshape", [](Importer& m, const NodeProto& n) { m.reshape(n); }},
      {"Squeeze", [](Importer& m, const NodeProto& n) { m.reshape(n); }},
      {"Unsqueeze", [](Importer& m, const NodeProto& n) { m.reshape(n); }},
      {"Transpose", [](Importer& m, const NodeProto& n) { m.transpose(n); }},
      {"Pad", [](Importer& m, const NodeProto& n) { m.pad(n); }},
      {"Slice", [](Importer& m, const NodeProto& n) { m.slice(n); }},
      {"Softmax", [](Importer& m, const NodeProto& n) { m.softmax(n, Op::Softmax); }},
      {"LogSoftmax", [](Importer& m, const NodeProto& n) { m.softmax(n, Op::LogSoftmax); }},
      {"Identity", [](Importer& m, const NodeProto& n) { m.alias(n); }},
      {"Dropout", [](Importer& m, const NodeProto& n) { m.dropout(n); }},
      {"Cast", [](Importer& m, const NodeProto& n) { m.cast(n); }},
      {"Gather", [](Importer& m, const NodeProto& n) { m.gather(n); }},
      {"Expand", [](Importer& m, const NodeProto& n) { m.expand(n); }},
      {"LayerNormalization", [](Importer& m, const NodeProto& n) { m.layer_norm(n); }},
  };
  return table;
}

}  // namespace

graph::GraphDef read_graph(const std::string& path, const LoadOptions& options) {
  Importer importer(path, options);
  return importer.run();
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> ops;
  for (const auto& [name, f] : Importer::translators()) ops.push_back(name);
  return ops;
}

}  // namespace gradattr::onnx
