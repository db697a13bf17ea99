// gradattr: the command-line tool (contract in docs/cli.md). Exit status 0 on success, 2 for a
// bad command line (unknown flag, bad flag value, missing or conflicting flags), 1 for anything
// else (a missing or malformed file, NaN in an input, an output that cannot be written), with a
// one-line message on stderr.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "method_instances.hpp"  // first: the methods are compiled in methods_<space>.cpp

#include "cmd_audit.hpp"
#include "cmd_bench.hpp"
#include "cmd_classify.hpp"
#include "cmd_explain.hpp"
#include "cmd_layers.hpp"
#include "gradattr/core/allocator.hpp"

int main(int argc, char** argv) {
  using namespace gradattr_cli;
  // A closed pipe on an output ('-', a FIFO) is a write error (EPIPE: exit 1, one line), not a
  // death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // Freed tensors reused instead of unmapped and faulted in again (core/allocator.hpp).
  gradattr::tune_allocator_for_tensors();
  CLI::App app{"gradattr: gradient-based attribution with pre-softmax, post-softmax, log-softmax and centred-logit scores"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_line(), "print the version and the commit it was built from");

  auto add_model_options = [](CLI::App* c, ModelArgs& m) {
    c->add_option("--weights", m.weights,
                  "a VGG's safetensors (torchvision or timm names) or an ONNX image classifier (default: the shipped model)");
    c->add_option("--arch", m.arch, "check the weights are this architecture (vgg11|vgg13|vgg16|vgg19)");
    c->add_option("--image", m.image, "PNG or JPEG image (preprocessed as the model expects)");
    c->add_option("--input", m.input, "raw input tensor, float32/float64 NPY [N,C,H,W] or [C,H,W]; no preprocessing");
  };

  ClassifyArgs classify;
  auto* c = app.add_subcommand("classify", "top-k classes of an image");
  add_model_options(c, classify.model);
  c->add_option("--top", classify.top, "how many classes")->capture_default_str();
  c->add_option("--labels", classify.labels, "class names, one per line (default: the weights' metadata)");
  c->add_option("--save-logits", classify.save_logits, "write the raw logits [N, classes] as float32 NPY ('-': standard output)");
  c->add_flag("--json", classify.json, "print one JSON object instead of the table");

  ExplainArgs explain;
  auto* e = app.add_subcommand("explain", "attribution map of one method under one score space (no --method: the panel)");
  add_model_options(e, explain.model);
  e->add_option("--method", explain.method,
                gradattr::method_names_list("|") + " (none: a panel of five methods x " +
                    std::to_string(gradattr::kAllScoreKinds.size()) + " score spaces)");
  std::string variant_help = "a method's documented alternative (default: the first):";
  for (const auto& m : gradattr::kMethodInfo)
    if (gradattr::has_variants(m.method))
      variant_help += " " + std::string(m.name) + ": " + gradattr::variant_names_list(m.method, "|") + ";";
  e->add_option("--variant", explain.variant, variant_help + " see docs/methods.md");
  std::string score_help;
  for (const auto& i : gradattr::score::kScoreInfo)
    score_help += (score_help.empty() ? "" : "; ") + std::string(i.name) + ": " + std::string(i.description);
  e->add_option("--score", explain.score, gradattr::score::score_names_list("|") + " (" + score_help + ")")->capture_default_str();
  e->add_option("--layer", explain.layer, "layer for CAM methods (default: the last conv block's ReLU)");
  e->add_option("--class", explain.cls, "class to explain (default: the top class)");
  e->add_option("--steps", explain.steps, "path steps (RSI Grad-CAM, Integrated Grad-CAM, IG), 1 to 100000")->capture_default_str();
  e->add_option("--samples", explain.samples, "SmoothGrad noise samples, 1 to 100000")->capture_default_str();
  e->add_option("--seed", explain.seed, "SmoothGrad noise seed")->capture_default_str();
  e->add_option("--out", explain.out, "overlay PNG (panel mode: default gradattr_panel.png; '-': standard output)");
  e->add_option("--save-raw", explain.save_raw,
                "raw signed map as float32 NPY ([N,h,w] at the layer, [N,C,H,W] for input methods; '-': standard output)");
  e->add_option("--save-map", explain.save_map, "displayed map [N,H,W] at input resolution as float32 NPY ('-': standard output)");
  e->add_flag("--json", explain.json, "print one JSON object instead of the text report");

  AuditArgs audit;
  auto* au = app.add_subcommand("audit", "every method x score space on the model and on its shifted (equivalent) twin");
  add_model_options(au, audit.model);
  au->add_option("--layer", audit.layer, "CAM layer, also where the twin's shift is built (default: the last conv block's ReLU)");
  au->add_option("--equivalent", audit.k, "K of the twin z' = z + K sum_k A[k,0,0]")->capture_default_str();
  au->add_option("--steps", audit.steps, "path steps for RSI Grad-CAM, Integrated Grad-CAM and IG, 1 to 100000")->capture_default_str();
  au->add_flag("--double", audit.double_precision, "run the audit in double precision (the weights widened exactly)");
  au->add_flag("--json", audit.json, "print one JSON object instead of the table");

  LayersArgs layers;
  auto* l = app.add_subcommand("layers", "the cut points --layer accepts, with shapes (ONNX: ops, value names, module paths)");
  l->add_option("--weights", layers.weights, "safetensors or ONNX model (default: the shipped model)");
  l->add_flag("--json", layers.json, "print one JSON object instead of the table");

  BenchArgs bench;
  auto* b = app.add_subcommand("bench", "time end-to-end workloads (random seeded weights unless --weights)");
  b->add_option("--weights", bench.weights, "safetensors or ONNX model (default: random seeded --arch)");
  b->add_option("--arch", bench.arch, "vgg11|vgg13|vgg16|vgg19")->capture_default_str();
  b->add_option("--size", bench.size, "input side (default: 224 for a VGG; an ONNX model's own)");
  b->add_option("--batch", bench.batch, "images per batch")->capture_default_str();
  b->add_option("--repeat", bench.repeat, "timed runs after one warm-up")->capture_default_str();
  b->add_option("--threads", bench.threads, "OpenMP threads (default: OpenMP's)");
  b->add_option("--workload", bench.workload, "forward|input-grad|gradcam|full|rsi-gradcam|ig|all")->capture_default_str();
  b->add_option("--steps", bench.steps, "path steps for rsi-gradcam and ig, 1 to 100000")->capture_default_str();
  b->add_flag("--profile", bench.profile, "after the timed runs, one run with time per op type (forward nodes of a graph model, every backward)");

  // CLI11 would only say that a subcommand is required: name the unknown one.
  bool known = argc < 2 || argv[1][0] == '-';
  std::string valid;
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    known = known || sub->check_name(argv[1]);
    valid += (valid.empty() ? "" : ", ") + sub->get_name();
  }
  if (!known) {
    std::fprintf(stderr, "gradattr: unknown command '%s' (valid: %s; see --help)\n", argv[1], valid.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion&) {
    std::printf("%s\n", version_line().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gradattr: %s\n", e.what());
    return 2;
  }
  try {
    if (*c) return run_classify(classify);
    if (*e) return run_explain(explain);
    if (*au) return run_audit(audit);
    if (*b) return run_bench(bench);
    if (*l) return run_layers(layers);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "gradattr: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "gradattr: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradattr: %s\n", e.what());
    return 1;
  }
  return 0;
}
