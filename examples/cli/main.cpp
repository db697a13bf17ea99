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
#ifdef GRADATTR_CLI_SWEEP
#include "cmd_results.hpp"
#include "cmd_sweep.hpp"
#include "cmd_view.hpp"
#ifdef GRADATTR_CLI_MPI
#include "cmd_sweep_mpi.hpp"  // mpirun -np N gradattr sweep
#endif
#endif
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

  auto add_precise_flag = [](CLI::App* c) {
    c->add_flag("--precise", exact_convolutions(),
                "convolutions without the Winograd algorithm: float results rounded like a plain sum, slower");
  };
  auto add_model_options = [&](CLI::App* c, ModelArgs& m) {
    c->add_option("--weights", m.weights,
                  "a VGG's safetensors (torchvision or timm names) or an ONNX image classifier (default: the shipped model)");
    c->add_option("--arch", m.arch, "check the weights are this architecture (vgg11|vgg13|vgg16|vgg19)");
    c->add_option("--image", m.image, "PNG or JPEG image (preprocessed as the model expects)");
    c->add_option("--input", m.input, "raw input tensor, float32/float64 NPY [N,C,H,W] or [C,H,W]; no preprocessing");
    add_precise_flag(c);
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
  add_precise_flag(b);
  b->add_option("--workload", bench.workload, "forward|input-grad|gradcam|full|rsi-gradcam|ig|smoothgrad|scorecam|all")
      ->capture_default_str();
  b->add_option("--steps", bench.steps, "path steps for rsi-gradcam and ig, noisy samples for smoothgrad, 1 to 100000")
      ->capture_default_str();
  b->add_flag("--profile", bench.profile, "after the timed runs, one run with time per op type (forward nodes of a graph model, every backward)");

#ifdef GRADATTR_CLI_SWEEP
  // sweep, merge, export: the results database (docs/sweep.md).
  SweepArgs sweep;
  auto* sw = app.add_subcommand("sweep", "methods x score spaces over a whole image set into an SQLite results database (resumable)");
  sw->add_option("--weights", sweep.weights, "safetensors or ONNX model (default: the shipped model)");
  add_precise_flag(sw);
  sw->add_option("--images", sweep.images, "a directory of PNG/JPEG files (sorted by name)");
  sw->add_option("--manifest", sweep.manifest, "a list of image paths, one a line (path[<TAB>label]; relative to the list)");
  sw->add_option("--idx", sweep.idx, "an IDX image file (MNIST format, .gz or plain)");
  sw->add_option("--labels", sweep.labels, "the IDX label file of --idx");
  sw->add_option("--methods", sweep.methods, "comma-separated: " + gradattr::method_names_list(","))->capture_default_str();
  sw->add_option("--scores", sweep.scores, "comma-separated: " + gradattr::score::score_names_list(","))->capture_default_str();
  sw->add_option("--class", sweep.cls, "top (each image's top class), label (its label) or a class index")->capture_default_str();
  sw->add_option("--variant", sweep.variant, "comma-separated method:variant (or a bare variant); default: each method's default");
  sw->add_option("--layer", sweep.layer, "layer for CAM methods (default: the last conv block's ReLU)");
  sw->add_option("--steps", sweep.steps, "path steps, 1 to 100000")->capture_default_str();
  sw->add_option("--samples", sweep.samples, "SmoothGrad noise samples, 1 to 100000")->capture_default_str();
  sw->add_option("--seed", sweep.seed, "SmoothGrad noise seed")->capture_default_str();
  sw->add_option("--metrics", sweep.metrics, "comma-separated: deletion,insertion (AUC of the curves)");
  sw->add_option("--metric-steps", sweep.metric_steps, "steps of the deletion/insertion curves, 1 to 10000")->capture_default_str();
  sw->add_option("--metric-score", sweep.metric_score, "comma-separated: the curves' evaluation score spaces (each metric under each)")->capture_default_str();
  sw->add_option("--metric-batch", sweep.metric_batch, "perturbed images per forward of a curve, 1 to 4096")->capture_default_str();
  sw->add_flag("--random-baseline", sweep.random_baseline, "add a row per image for a seeded uniform random map (the faithfulness reference)");
  sw->add_flag("--save-maps", sweep.save_maps, "store each raw map (float32 BLOB + shape)");
  sw->add_option("--limit", sweep.limit, "only the first K images of the list");
  sw->add_option("--shard", sweep.shard, "i/n: only images i, i+n, i+2n, ... (0 <= i < n)");
  sw->add_option("--out", sweep.out, "the results database (SQLite; resumed when it exists)");
  sw->add_flag("--new-run", sweep.new_run, "start a new run in --out even if it holds one with other options");
  sw->add_option("--prefetch", sweep.prefetch, "images read ahead on a second thread, 0 to 64 (0: none; one process only, an MPI rank reads one ahead)")->capture_default_str();

  MergeArgs merge;
  auto* mg = app.add_subcommand("merge", "merge sweep databases of one run (its shards) into a new one");
  mg->add_option("databases", merge.inputs, "the databases")->required();
  mg->add_option("--out", merge.out, "the merged database (must not exist)");

  ExportArgs exp;
  auto* ex = app.add_subcommand("export", "a sweep database's results as CSV, its saved maps as NPY");
  ex->add_option("database", exp.db, "the database")->required();
  ex->add_option("--csv", exp.csv, "one line per result row ('-': standard output)");
  ex->add_option("--maps", exp.maps, "the saved raw maps as float32 NPY [rows, ...] (row k = the CSV's map_row k)");
  ex->add_option("--method", exp.method, "only this method's rows");
  ex->add_option("--run", exp.run, "the run (default: the latest)");

  ViewArgs view;
  auto* vw = app.add_subcommand("view", "a static HTML gallery of a sweep database (inputs, overlays, numbers; no server)");
  vw->add_option("database", view.db, "the database")->required();
  vw->add_option("--out", view.out, "the gallery directory (written whole, or not at all; an older gallery there is replaced)");
  vw->add_option("--run", view.run, "the run (default: the latest)");
  vw->add_option("--limit", view.limit, "only the first K images");
#endif

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
#ifdef GRADATTR_CLI_SWEEP
    if (*sw) return run_sweep(sweep);
    if (*mg) return run_merge(merge);
    if (*ex) return run_export(exp);
    if (*vw) return run_view(view);
#endif
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
