#include "chameleon/task/workload.hpp"

#include "chameleon/util/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <tuple>

namespace chameleon::task {

namespace {
auto as_tuple(const Conv2dWorkload& w) {
  return std::make_tuple(w.n, w.c, w.h, w.w, w.k, w.r, w.s, w.stride_h, w.stride_w, w.pad_top,
                         w.pad_left, w.pad_bottom, w.pad_right, w.dilation_h, w.dilation_w,
                         w.groups, int(w.dtype), w.epilogue.bias, w.epilogue.residual,
                         int(w.epilogue.act), int(w.layout));
}

constexpr std::pair<Activation, const char*> kActivations[] = {
    {Activation::none, "none"}, {Activation::relu, "relu"},           {Activation::relu6, "relu6"},
    {Activation::silu, "silu"}, {Activation::hardswish, "hardswish"},
};

std::string folded(const char* tag, int a, int b) {
  return a == b ? tag + std::to_string(a) : tag + std::to_string(a) + "x" + std::to_string(b);
}
} // namespace

const char* dtype_name(DataType t) {
  return t == DataType::f16 ? "float16" : t == DataType::bf16 ? "bfloat16" : "float32";
}

const char* dtype_short(DataType t) {
  return t == DataType::f16 ? "fp16" : t == DataType::bf16 ? "bf16" : "fp32";
}

DataType dtype_from_text(const std::string& text) {
  for (DataType t : {DataType::f32, DataType::f16, DataType::bf16}) {
    if (text == dtype_name(t) || text == dtype_short(t)) return t;
  }
  throw Error("unknown data type '" + text + "' (known: fp32, fp16, bf16, or float32, float16, " +
              "bfloat16)");
}

const char* layout_name(Layout l) {
  return l == Layout::nhwc ? "nhwc" : "nchw";
}

Layout layout_from_text(const std::string& text) {
  std::string lower = text;
  for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  for (Layout l : {Layout::nchw, Layout::nhwc}) {
    if (lower == layout_name(l)) return l;
  }
  throw Error("unknown layout '" + text + "' (known: nchw, nhwc)");
}

const char* activation_name(Activation a) {
  for (const auto& [act, name] : kActivations) {
    if (act == a) return name;
  }
  return "none";
}

bool activation_from_name(const std::string& op, Activation* out) {
  for (const auto& [act, name] : kActivations) {
    if (act != Activation::none && op == name) {
      *out = act;
      return true;
    }
  }
  return false;
}

std::string Epilogue::str() const {
  std::string out;
  auto add = [&](const char* part) { out += (out.empty() ? "" : "+") + std::string(part); };
  if (bias) add("bias");
  if (residual) add("add");
  if (act != Activation::none) add(activation_name(act));
  return out;
}

float apply_activation(Activation a, float v) {
  switch (a) {
  case Activation::none:
    return v;
  case Activation::relu:
    return std::max(v, 0.0f);
  case Activation::relu6:
    return std::min(std::max(v, 0.0f), 6.0f);
  case Activation::silu:
    return v / (1.0f + std::exp(-v));
  case Activation::hardswish:
    return v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f;
  }
  return v;
}

int Conv2dWorkload::out_h() const {
  return (h + pad_top + pad_bottom - dilation_h * (r - 1) - 1) / stride_h + 1;
}

int Conv2dWorkload::out_w() const {
  return (w + pad_left + pad_right - dilation_w * (s - 1) - 1) / stride_w + 1;
}

int64_t Conv2dWorkload::flops() const {
  return 2 * int64_t(n) * k * out_h() * out_w() * (c / groups) * r * s;
}

std::string Conv2dWorkload::str() const {
  std::string out = shape_str();
  if (dtype != DataType::f32) out += std::string(" ") + dtype_short(dtype);
  if (layout != Layout::nchw) out += std::string(" ") + layout_name(layout);
  if (!epilogue.empty()) out += " +" + epilogue.str();
  return out;
}

std::string Conv2dWorkload::shape_str() const {
  std::string pad = (pad_top == pad_bottom && pad_left == pad_right)
                        ? folded(" p", pad_top, pad_left)
                        : " p" + std::to_string(pad_top) + "," + std::to_string(pad_left) + "," +
                              std::to_string(pad_bottom) + "," + std::to_string(pad_right);
  std::string out = "N" + std::to_string(n) + " C" + std::to_string(c) + " H" + std::to_string(h) +
                    " W" + std::to_string(w) + " K" + std::to_string(k) + " R" + std::to_string(r) +
                    " S" + std::to_string(s) + folded(" s", stride_h, stride_w) + pad +
                    folded(" d", dilation_h, dilation_w);
  if (groups != 1) out += " g" + std::to_string(groups);
  return out;
}

std::string Conv2dWorkload::key() const {
  std::string out = "conv2d";
  for (int v : {n, c, h, w, k, r, s, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
                dilation_h, dilation_w, groups}) {
    out += "_" + std::to_string(v);
  }
  if (dtype != DataType::f32) out += std::string("_") + dtype_short(dtype);
  if (layout != Layout::nchw) out += std::string("_") + layout_name(layout);
  if (!epilogue.empty()) {
    out += "_e";
    if (epilogue.bias) out += "b";
    if (epilogue.residual) out += "r";
    if (epilogue.act != Activation::none) out += std::string("_") + activation_name(epilogue.act);
  }
  return out;
}

bool Conv2dWorkload::operator==(const Conv2dWorkload& o) const {
  return as_tuple(*this) == as_tuple(o);
}
bool Conv2dWorkload::operator<(const Conv2dWorkload& o) const {
  return as_tuple(*this) < as_tuple(o);
}

nlohmann::json to_json(const Conv2dWorkload& wl) {
  nlohmann::json j = {{"N", wl.n},
                      {"C", wl.c},
                      {"H", wl.h},
                      {"W", wl.w},
                      {"K", wl.k},
                      {"R", wl.r},
                      {"S", wl.s},
                      {"stride", {wl.stride_h, wl.stride_w}},
                      {"padding", {wl.pad_top, wl.pad_left, wl.pad_bottom, wl.pad_right}},
                      {"dilation", {wl.dilation_h, wl.dilation_w}},
                      {"groups", wl.groups}};
  if (wl.dtype != DataType::f32) j["dtype"] = dtype_name(wl.dtype);
  if (wl.layout != Layout::nchw) j["layout"] = layout_name(wl.layout);
  if (!wl.epilogue.empty()) {
    j["epilogue"] = {{"bias", wl.epilogue.bias},
                     {"residual", wl.epilogue.residual},
                     {"activation", activation_name(wl.epilogue.act)}};
  }
  return j;
}

Conv2dWorkload workload_from_json(const nlohmann::json& j) {
  try {
    Conv2dWorkload wl;
    wl.n = j.at("N").get<int>();
    wl.c = j.at("C").get<int>();
    wl.h = j.at("H").get<int>();
    wl.w = j.at("W").get<int>();
    wl.k = j.at("K").get<int>();
    wl.r = j.at("R").get<int>();
    wl.s = j.at("S").get<int>();
    auto stride = j.at("stride").get<std::vector<int>>();
    auto pad = j.at("padding").get<std::vector<int>>();
    auto dil = j.at("dilation").get<std::vector<int>>();
    if (stride.size() != 2 || pad.size() != 4 || dil.size() != 2) {
      throw Error("stride and dilation need 2 values, padding 4");
    }
    wl.stride_h = stride[0];
    wl.stride_w = stride[1];
    wl.pad_top = pad[0];
    wl.pad_left = pad[1];
    wl.pad_bottom = pad[2];
    wl.pad_right = pad[3];
    wl.dilation_h = dil[0];
    wl.dilation_w = dil[1];
    wl.groups = j.value("groups", 1);
    if (j.contains("dtype")) wl.dtype = dtype_from_text(j.at("dtype").get<std::string>());
    if (j.contains("layout")) wl.layout = layout_from_text(j.at("layout").get<std::string>());
    if (j.contains("epilogue")) {
      const nlohmann::json& e = j.at("epilogue");
      wl.epilogue.bias = e.value("bias", false);
      wl.epilogue.residual = e.value("residual", false);
      const std::string act = e.value("activation", std::string("none"));
      if (act != "none" && !activation_from_name(act, &wl.epilogue.act)) {
        throw Error("unknown epilogue activation '" + act +
                    "' (known: relu, relu6, silu, hardswish)");
      }
    }
    validate(wl);
    return wl;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("bad workload ") + j.dump() + ": " + e.what());
  }
}

void validate(const Conv2dWorkload& wl) {
  auto fail = [&](const std::string& why) { throw Error("workload " + wl.str() + ": " + why); };
  if (wl.n < 1 || wl.c < 1 || wl.h < 1 || wl.w < 1 || wl.k < 1 || wl.r < 1 || wl.s < 1) {
    fail("sizes must be positive");
  }
  if (wl.stride_h < 1 || wl.stride_w < 1 || wl.dilation_h < 1 || wl.dilation_w < 1 ||
      wl.groups < 1) {
    fail("stride, dilation and groups must be at least 1");
  }
  if (wl.pad_top < 0 || wl.pad_left < 0 || wl.pad_bottom < 0 || wl.pad_right < 0) {
    fail("padding must not be negative");
  }
  if (wl.c % wl.groups != 0 || wl.k % wl.groups != 0) fail("groups must divide C and K");
  if (wl.h + wl.pad_top + wl.pad_bottom < wl.dilation_h * (wl.r - 1) + 1 ||
      wl.w + wl.pad_left + wl.pad_right < wl.dilation_w * (wl.s - 1) + 1) {
    fail("the kernel is larger than the padded input");
  }
}

} // namespace chameleon::task
