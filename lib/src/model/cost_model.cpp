#include "chameleon/model/cost_model.hpp"

#include "chameleon/util/error.hpp"

#include <xgboost/c_api.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <thread>

namespace chameleon::model {

namespace {

void xgb_check(int rc, const char* what) {
  if (rc != 0) throw Error(std::string("XGBoost ") + what + " failed: " + XGBGetLastError());
}

// Owns a DMatrix, built on `threads` OpenMP threads.
class Matrix {
public:
  Matrix(const std::vector<float>& x, int rows, int cols, int threads) {
    xgb_check(
        XGDMatrixCreateFromMat_omp(x.data(), bst_ulong(rows), bst_ulong(cols), NAN, &h_, threads),
        "matrix creation");
  }
  ~Matrix() { XGDMatrixFree(h_); }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  DMatrixHandle get() const { return h_; }

private:
  DMatrixHandle h_ = nullptr;
};

std::vector<float> predict_raw(BoosterHandle b, const Matrix& m, int rounds, size_t rows) {
  bst_ulong len = 0;
  const float* out = nullptr;
  xgb_check(XGBoosterPredict(b, m.get(), 0, unsigned(rounds), 0, &len, &out), "prediction");
  if (len != rows)
    throw Error("XGBoost returned " + std::to_string(len) + " predictions for " +
                std::to_string(rows) + " rows");
  return std::vector<float>(out, out + len);
}

} // namespace

nlohmann::json to_json(const ModelOptions& o) {
  return {{"loss", o.loss},
          {"max_depth", o.max_depth},
          {"eta", o.eta},
          {"gamma", o.gamma},
          {"min_child_weight", o.min_child_weight},
          {"subsample", o.subsample},
          {"max_rounds", o.max_rounds},
          {"early_stopping", o.early_stopping},
          {"recall_k", o.recall_k},
          {"seed", o.seed}};
}

double average_recall(const std::vector<float>& pred, const std::vector<float>& label, int k) {
  const size_t n = pred.size();
  if (n == 0 || k <= 0) return 0;
  // True rank (1 = best) of every row; ties share the better rank.
  std::vector<size_t> by_label(n);
  std::iota(by_label.begin(), by_label.end(), 0);
  std::stable_sort(by_label.begin(), by_label.end(),
                   [&](size_t a, size_t b) { return label[a] > label[b]; });
  std::vector<size_t> rank(n);
  for (size_t i = 0; i < n; ++i) {
    rank[by_label[i]] =
        (i > 0 && label[by_label[i]] == label[by_label[i - 1]]) ? rank[by_label[i - 1]] : i + 1;
  }
  std::vector<size_t> by_pred(n);
  std::iota(by_pred.begin(), by_pred.end(), 0);
  std::stable_sort(by_pred.begin(), by_pred.end(),
                   [&](size_t a, size_t b) { return pred[a] > pred[b]; });
  const size_t top = std::min(n, size_t(k));
  double sum = 0;
  for (size_t i = 0; i < top; ++i) {
    size_t hits = 0;
    for (size_t j = 0; j <= i; ++j) hits += rank[by_pred[j]] <= i + 1;
    sum += double(hits) / double(i + 1);
  }
  return sum / double(top);
}

CostModel::CostModel(ModelOptions options) : options_(std::move(options)) {
  if (options_.loss != "reg" && options_.loss != "rank") {
    throw Error("unknown cost model loss '" + options_.loss + "' (reg or rank)");
  }
}

CostModel::~CostModel() {
  if (booster_ != nullptr) XGBoosterFree(booster_);
}

void CostModel::fit(const std::vector<float>& x, int rows, int cols, const std::vector<float>& y,
                    const std::vector<float>& weights) {
  if (rows == 0) return;
  int threads = options_.threads > 0 ? options_.threads
                                     : int(std::max(1u, std::thread::hardware_concurrency()));
  Matrix train(x, rows, cols, threads);
  xgb_check(XGDMatrixSetFloatInfo(train.get(), "label", y.data(), bst_ulong(rows)), "labels");
  if (!weights.empty()) {
    xgb_check(XGDMatrixSetFloatInfo(train.get(), "weight", weights.data(), bst_ulong(rows)),
              "weights");
  }
  if (options_.loss == "rank") {
    unsigned group = unsigned(rows);
    xgb_check(XGDMatrixSetUIntInfo(train.get(), "group", &group, 1), "groups");
  }
  BoosterHandle raw = nullptr;
  DMatrixHandle mats[] = {train.get()};
  xgb_check(XGBoosterCreate(mats, 1, &raw), "booster creation");
  std::unique_ptr<void, int (*)(BoosterHandle)> owner(raw, XGBoosterFree);
  BoosterHandle b = owner.get();
  auto set = [&](const char* k, const std::string& v) {
    xgb_check(XGBoosterSetParam(b, k, v.c_str()), k);
  };
  set("objective", options_.loss == "rank" ? "rank:pairwise" : "reg:squarederror");
  set("max_depth", std::to_string(options_.max_depth));
  set("eta", std::to_string(options_.eta));
  set("gamma", std::to_string(options_.gamma));
  set("min_child_weight", std::to_string(options_.min_child_weight));
  set("subsample", std::to_string(options_.subsample));
  set("lambda", "1");
  set("alpha", "0");
  set("nthread", std::to_string(threads));
  set("seed", std::to_string(options_.seed % 2147483647));
  set("verbosity", "0");

  double best = -1;
  int best_round = 0;
  for (int round = 0; round < options_.max_rounds; ++round) {
    xgb_check(XGBoosterUpdateOneIter(b, round, train.get()), "training");
    double recall =
        average_recall(predict_raw(b, train, round + 1, size_t(rows)), y, options_.recall_k);
    if (recall > best) {
      best = recall;
      best_round = round + 1;
    } else if (round + 1 - best_round >= options_.early_stopping) {
      break;
    }
  }
  // Predictions come in small batches (one per PPO or annealing step, 128 rows): on one thread,
  // they cost less than waking a team, whose threads would then spin between steps and take the
  // cores from the compiler.
  set("nthread", "1");
  if (booster_ != nullptr) XGBoosterFree(booster_);
  booster_ = owner.release();
  best_rounds_ = best_round;
}

std::vector<float> CostModel::predict(const std::vector<float>& x, int rows, int cols) const {
  if (booster_ == nullptr || rows == 0) return std::vector<float>(size_t(rows), 0.0f);
  Matrix m(x, rows, cols, 1);
  return predict_raw(booster_, m, best_rounds_, size_t(rows));
}

} // namespace chameleon::model
