// train_fashion: trains the small Fashion-MNIST VGG that gradattr ships as its default model
// (examples/data/fashion_vgg.safetensors), with gradattr's own autodiff and kernels.
//
//   train_fashion [--data DIR] [--epochs E] [--batch B] [--optimizer sgd|adam] [--lr LR]
//                 [--momentum M] [--weight-decay WD] [--schedule cosine|step|constant]
//                 [--seed S] [--threads T] [--limit N] [--augment] [--out model.safetensors]
//                 [--shuffle-labels]   (data randomisation, paper E8: the training labels permuted)
//                 [--label-smoothing EPS] [--canvas S]
//   train_fashion --export-samples DIR [--per-class K]   (t10k test images as grey PNGs)
//
// Every epoch prints one line (train loss, train accuracy, test accuracy, seconds) and writes
// the checkpoint atomically (temporary file + rename): an interrupted run leaves the previous
// epoch's file intact. The same seed and thread count give the same bits; different seeds give
// independent models (initialisation, shuffling and flips all come from the seed).
// Exit status: 0 on success, 2 for bad arguments, 1 for other errors (one line on stderr).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <gradattr/core/parallel.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/models/vgg_safetensors.hpp>

#include "../cli/progress.hpp"
#include "trainer.hpp"

namespace {

namespace fs = std::filesystem;
using namespace train_fashion;

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int epochs = 10;
  std::int64_t batch = 128;
  std::string optimizer = "adam";
  double lr = -1;  // default per optimiser
  double momentum = 0.9;
  double weight_decay = -1;  // default per optimiser
  std::string schedule = "cosine";
  std::uint64_t seed = 1;
  int threads = 0;
  std::string out = "fashion_vgg.safetensors";
  std::int64_t limit = 0;
  std::int64_t test_limit = 0;
  bool augment = false;
  std::string export_samples;
  int per_class = 12;
  // Architecture experiments (default: train_fashion::fashion_config(), the shipped one).
  std::string features;  // e.g. "16,M,32,M,64,M"
  std::int64_t pool_size = 0;
  std::vector<std::int64_t> hidden;
  bool shuffle_labels = false;  // paper E8 (Adebayo et al.'s data randomisation)
  // Paper experiments E7 / E10 (docs/methods.md §8-9).
  double label_smoothing = 0;  // ε of the smoothed cross-entropy, in [0, 1)
  std::int64_t canvas = 0;     // > 0: items at seeded random positions on a zero canvas×canvas image
};

gradattr::models::VggConfig config_from(const Options& o) {
  auto c = fashion_config();
  if (!o.features.empty()) {
    c.features.clear();
    std::stringstream ss(o.features);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item == "M" || item == "m") {
        c.features.push_back(gradattr::models::kVggPool);
        continue;
      }
      std::size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || v < 1) throw gradattr::ArgumentError("--features: bad entry '" + item + "' (widths and M)");
      c.features.push_back(v);
    }
    if (c.features.empty() || c.features.back() != gradattr::models::kVggPool)
      throw gradattr::ArgumentError("--features must end with M (a VGG's features end with a max-pool)");
  }
  if (o.pool_size > 0) c.pool_size = o.pool_size;
  if (!o.hidden.empty()) c.hidden = o.hidden;
  c.validate();
  return c;
}

// A double in its shortest round-trip form (1.5, not 1.500000).
std::string number_text(double v) {
  for (int p = 1; p < 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << v;
    if (std::isnan(v) || std::stod(t.str()) == v) return t.str();
  }
  std::ostringstream t;
  t.precision(17);
  t << v;
  return t.str();
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+") == std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The source tree's commit (with "-dirty" when tracked files differ from it), or "unknown".
std::string source_commit() {
#ifdef TRAIN_FASHION_SOURCE_DIR
  const std::string cmd = "git -C " + shell_quote(TRAIN_FASHION_SOURCE_DIR) + " describe --always --dirty --abbrev=40 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (p) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, p.get())) {
      std::string s(buf);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (!s.empty()) return s;
    }
  }
#endif
  return "unknown";
}

// Fails early (before any training) when `out` cannot be written: creates and removes a probe
// file next to it, the way the atomic write will.
void check_writable(const fs::path& out) {
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw gradattr::IoError("cannot write '" + out.string() + "': is a directory");
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw gradattr::IoError("cannot write '" + out.string() + "': directory '" + dir.string() + "' does not exist");
  const fs::path probe = dir / (".train_fashion-probe-" + std::to_string(getpid()));
  {
    std::ofstream f(probe, std::ios::binary | std::ios::trunc);
    if (!f || !(f << 'x') || !(f.flush()))
      throw gradattr::IoError("cannot write '" + out.string() + "': directory '" + dir.string() + "' is not writable");
  }
  fs::remove(probe, ec);
}

void export_samples(const Options& o) {
  const Dataset test = load_fashion(o.data, "t10k");
  const fs::path dir = o.export_samples;
  std::error_code ec;
  fs::create_directories(dir, ec);
  check_writable(dir / "probe.png");
  std::vector<int> written(10, 0);
  std::vector<std::uint8_t> px(28 * 28);
  for (std::int64_t i = 0; i < test.size(); ++i) {
    const auto c = static_cast<std::size_t>(test.labels[static_cast<std::size_t>(i)]);
    if (written[c] >= o.per_class) continue;
    const float* src = test.images.data() + i * 28 * 28;
    // IDX bytes b were stored as b / 255.f; this recovers b exactly.
    for (std::size_t k = 0; k < px.size(); ++k) px[k] = static_cast<std::uint8_t>(std::lround(src[k] * 255.f));
    const std::string name = std::to_string(c) + "_" + slug(kClassNames[c]) + "_" + std::to_string(written[c]) + ".png";
    gradattr::io::write_png(dir / name, px.data(), 28, 28, 1);
    std::printf("%s  (t10k index %lld)\n", (dir / name).string().c_str(), static_cast<long long>(i));
    ++written[c];
  }
}

int run(const Options& o, const std::string& command) {
  if (!o.export_samples.empty()) {
    export_samples(o);
    return 0;
  }
  const bool adam = o.optimizer == "adam";
  const double lr = o.lr > 0 ? o.lr : adam ? 1e-3 : 0.05;
  const double wd = o.weight_decay >= 0 ? o.weight_decay : adam ? 0.0 : 5e-4;
  (void)scheduled_lr(o.schedule, lr, 0, 1);  // validates the name
  const auto config = config_from(o);
  const fs::path out = o.out;
  check_writable(out);

  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
    throw gradattr::ArgumentError("--label-smoothing " + number_text(o.label_smoothing) + " must be in [0, 1)");
  if (o.canvas != 0) check_canvas(o.canvas, kItem, "--canvas");
  Dataset train = head(load_fashion(o.data, "train"), o.limit);
  if (o.shuffle_labels) {  // a seeded permutation of the labels: the class counts stay, the image-label link goes
    std::mt19937_64 lrng(o.seed ^ 0x5A0FF1E5ull);
    std::shuffle(train.labels.begin(), train.labels.end(), lrng);
  }
  const Dataset test = head(load_fashion(o.data, "t10k"), o.test_limit);

  Model model = gradattr::models::vgg<float>(config, o.seed);
  model.set_class_names(std::vector<std::string>(kClassNames.begin(), kClassNames.end()));
  Optimizer opt = adam ? Optimizer(gradattr::nn::Adam<float>({.lr = lr, .weight_decay = wd}))
                       : Optimizer(gradattr::nn::Sgd<float>({.lr = lr, .momentum = o.momentum, .weight_decay = wd}));

  const std::string commit = source_commit();
  std::printf("train_fashion: %lld train / %lld test images, %lld parameters, %d threads, seed %llu, commit %s\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()),
              static_cast<long long>(model.parameter_count()), gradattr::max_threads(),
              static_cast<unsigned long long>(o.seed), commit.c_str());
  std::printf("%s\n", command.c_str());
  std::fflush(stdout);

  // Data order and flips: their own stream, so they do not depend on how init consumed its own.
  std::mt19937_64 rng(o.seed ^ 0x9E3779B97F4A7C15ull);
  // --canvas: the items' positions, a third stream (the data order and flips do not change with it).
  std::mt19937_64 place_rng(o.seed ^ 0xCA7A5C0FFEEull);
  std::vector<std::int64_t> order(static_cast<std::size_t>(train.size()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  const std::int64_t steps_per_epoch = (train.size() + o.batch - 1) / o.batch;
  const std::int64_t total_steps = steps_per_epoch * o.epochs;
  std::int64_t step = 0;
  const auto t_start = std::chrono::steady_clock::now();
  double last_acc = 0;

  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0;
    std::int64_t correct = 0;
    {
      gradattr_cli::ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs));
      std::vector<char> flip;
      for (std::int64_t b = 0; b < train.size(); b += o.batch, ++step) {
        const std::int64_t e = std::min(train.size(), b + o.batch);
        flip.assign(static_cast<std::size_t>(e - b), 0);
        if (o.augment)
          for (auto& f : flip) f = static_cast<char>(rng() >> 63);
        const double cur = scheduled_lr(o.schedule, lr, step, total_steps);
        std::visit([&](auto& x) { x.set_lr(cur); }, opt);
        Batch mb = make_batch(train, order, b, e, flip);
        if (o.canvas > 0) mb.x = random_placement(mb.x, o.canvas, place_rng);
        const StepResult r = train_step(model, opt, mb, o.label_smoothing);
        if (!std::isfinite(r.loss))
          throw gradattr::Error("training diverged at epoch " + std::to_string(epoch) + " (loss " + std::to_string(r.loss) +
                                "); lower --lr");
        loss_sum += static_cast<double>(r.loss) * static_cast<double>(e - b);
        correct += r.correct;
        bar(static_cast<std::size_t>(e), static_cast<std::size_t>(train.size()));
      }
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last_acc = accuracy(model, test, 500, o.canvas);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double n = static_cast<double>(train.size());
    std::printf("epoch %2d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  lr %.3g  %.1f s (train %.1f s, %.0f img/s)\n", epoch,
                o.epochs, loss_sum / n, static_cast<double>(correct) / n, last_acc,
                scheduled_lr(o.schedule, lr, step - 1, total_steps), secs, train_s, n / train_s);
    std::fflush(stdout);

    std::ostringstream acc;
    acc.precision(4);
    acc << std::fixed << last_acc;
    const std::map<std::string, std::string> meta{
        {"gradattr.preprocess", o.canvas > 0 ? "grey:" + std::to_string(o.canvas) + "x" + std::to_string(o.canvas) : "grey:28x28"},
        {"training.label_smoothing", number_text(o.label_smoothing)},
        {"training.canvas", std::to_string(o.canvas > 0 ? o.canvas : kItem)},
        {"training.command", command},
        {"training.seed", std::to_string(o.seed)},
        {"training.threads", std::to_string(gradattr::max_threads())},
        {"training.epochs", std::to_string(epoch) + "/" + std::to_string(o.epochs)},
        {"training.train_images", std::to_string(train.size())},
        {"training.test_accuracy", acc.str()},
        {"training.test_images", std::to_string(test.size())},
        {"training.dataset", "Fashion-MNIST (Debian dataset-fashion-mnist)"},
        {"training.shuffled_labels", o.shuffle_labels ? "yes (seeded permutation)" : "no"},
        {"gradattr.commit", commit},
    };
    gradattr::models::save_vgg_safetensors(out, model, meta);
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("done: %d epochs in %.1f s, test accuracy %.4f, wrote %s\n", o.epochs, total, last_acc, out.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train the small Fashion-MNIST VGG that gradattr ships (gradattr's own autodiff and kernels)"};
  app.add_option("--data", o.data, "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz")->capture_default_str();
  app.add_option("--epochs", o.epochs, "epochs")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--batch", o.batch, "minibatch size")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--optimizer", o.optimizer, "sgd|adam")->capture_default_str()->check(CLI::IsMember({"sgd", "adam"}));
  app.add_option("--lr", o.lr, "peak learning rate (default: 1e-3 for adam, 0.05 for sgd)");
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", o.weight_decay, "L2 weight decay (default: 0 for adam, 5e-4 for sgd)");
  app.add_option("--schedule", o.schedule, "learning-rate schedule per step: cosine|step|constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "step", "constant"}));
  app.add_option("--seed", o.seed, "seeds initialisation, shuffling and flips (different seeds: independent models)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "OpenMP threads (default: OpenMP's)")->check(CLI::Range(1, 1024));
  app.add_option("--out", o.out, "checkpoint, written atomically after every epoch")->capture_default_str();
  app.add_option("--limit", o.limit, "use only the first N training images (smoke runs)")->check(CLI::Range(int64_t{1}, INT64_MAX));
  app.add_option("--test-limit", o.test_limit, "evaluate on the first N test images only")->check(CLI::Range(int64_t{1}, INT64_MAX));
  app.add_flag("--augment", o.augment, "random horizontal flips (seeded)");
  app.add_flag("--shuffle-labels", o.shuffle_labels, "train on a seeded permutation of the training labels (sanity check E8)");
  app.add_option("--export-samples", o.export_samples,
                 "write the first --per-class t10k images of each class as DIR/<class>_<slug>_<k>.png and exit");
  app.add_option("--per-class", o.per_class, "images per class for --export-samples")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--features", o.features, "architecture experiments: conv widths and M, e.g. 32,32,M,64,64,M (default: the shipped 16,M,32,M,64,M)");
  app.add_option("--pool-size", o.pool_size, "architecture experiments: avgpool side (default 3)");
  app.add_option("--hidden", o.hidden, "architecture experiments: classifier hidden widths (default 256)")->delimiter(',');
  app.add_option("--label-smoothing", o.label_smoothing, "label smoothing eps in [0, 1): target (1-eps) onehot + eps/10 (paper E10)")
      ->capture_default_str();
  app.add_option("--canvas", o.canvas, "train (and test) on SxS zero canvases, each item at a seeded random position; S >= 28 (paper E7)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (o.lr != -1 && !(o.lr > 0)) {
    std::fprintf(stderr, "train_fashion: --lr must be > 0\n");
    return 2;
  }
  if (o.weight_decay != -1 && !(o.weight_decay >= 0)) {
    std::fprintf(stderr, "train_fashion: --weight-decay must be >= 0\n");
    return 2;
  }
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
  std::string command = "train_fashion";
  for (int i = 1; i < argc; ++i) command += " " + shell_quote(argv[i]);
  try {
    (void)config_from(o);
    if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
      throw gradattr::ArgumentError("--label-smoothing " + number_text(o.label_smoothing) + " must be in [0, 1)");
    if (o.canvas != 0) check_canvas(o.canvas, kItem, "--canvas");
  } catch (const gradattr::ArgumentError& e) {
    std::fprintf(stderr, "train_fashion: %s\n", e.what());
    return 2;
  }
  try {
    return run(o, command);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_fashion: %s\n", e.what());
    return 1;
  }
}
