#include "inspect/inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "io/h5_attr.h"

namespace qkv::inspect {

using io::detail::Hid;

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string json_num(double v) {
  if (std::isnan(v) || std::isinf(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

struct WalkCtx {
  const io::H5In* in;
  const Options* opt;
  std::vector<Entry>* out;
};

void read_attrs(hid_t obj, const std::string& where, Entry& e) {
  for (const std::string& n : io::detail::attr_names(obj, where)) {
    Entry::Attr a;
    a.name = n;
    try {
      a.value = io::detail::read_attr(obj, n, where);
    } catch (const DataError&) {
      a.supported = false;
    }
    e.attrs.push_back(std::move(a));
  }
}

// Numeric stats and the first `head` values, read in slabs of rows so memory
// stays bounded whatever the dataset's size.
void dataset_values(const io::H5In& in, hid_t d, hid_t type, const Options& opt, Entry& e) {
  H5T_class_t cls = H5Tget_class(type);
  Hid space(H5Dget_space(d));
  uint64_t numel = 1;
  for (auto v : e.shape) numel *= static_cast<uint64_t>(v);
  if (cls == H5T_STRING) {
    if (opt.head > 0 && numel <= in.size_bytes()) {
      auto vals = io::detail::read_string_values(d, type, space.get(), false, in.path() + ": " + e.path);
      for (size_t i = 0; i < vals.size() && static_cast<int64_t>(i) < opt.head; ++i)
        e.head.push_back("\"" + vals[i] + "\"");
    }
    return;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) return;
  if (std::string bad = io::detail::number_type_problem(type); !bad.empty())
    throw DataError(in.path() + ": dataset " + e.path + ": " + bad);
  uint64_t elem = H5Tget_size(type);
  if (elem == 0 || numel > in.max_decoded_bytes(d, e.path) / elem)
    throw DataError(in.path() + ": dataset " + e.path + ": shape " + shape_str(e.shape) +
                    " is larger than the file can hold (corrupt header?)");
  if (numel == 0) {
    e.has_stats = opt.stats;
    return;
  }
  int rank = static_cast<int>(e.shape.size());
  uint64_t rows = rank == 0 ? 1 : static_cast<uint64_t>(e.shape[0]);
  uint64_t row_len = rows ? numel / rows : 0;
  uint64_t slab_rows = std::max<uint64_t>(1, (uint64_t{1} << 21) / std::max<uint64_t>(row_len, 1));
  std::vector<double> buf;
  double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
  Stats st;
  bool want_stats = opt.stats;
  for (uint64_t r0 = 0; r0 < rows; r0 += slab_rows) {
    uint64_t nr = std::min(slab_rows, rows - r0);
    buf.resize(nr * row_len);
    herr_t rc;
    if (rank == 0) {
      rc = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    } else {
      std::vector<hsize_t> start(rank, 0), count(e.shape.begin(), e.shape.end());
      start[0] = r0;
      count[0] = nr;
      Hid fs(H5Scopy(space.get()));
      H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
      Hid ms(H5Screate_simple(rank, count.data(), nullptr));
      rc = H5Dread(d, H5T_NATIVE_DOUBLE, ms.get(), fs.get(), H5P_DEFAULT, buf.data());
    }
    if (rc < 0) throw DataError(in.path() + ": dataset " + e.path + ": cannot read (" + io::h5_error_text() + ")");
    for (double v : buf) {
      if (static_cast<int64_t>(e.head.size()) < opt.head) e.head.push_back(fmt(v));
      if (!want_stats) continue;
      if (std::isnan(v)) { ++st.nan; continue; }
      if (std::isinf(v)) { ++st.inf; continue; }
      ++st.count;
      sum += v;
      sumsq += v * v;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    if (!want_stats && static_cast<int64_t>(e.head.size()) >= opt.head) break;
  }
  if (want_stats) {
    e.has_stats = true;
    if (st.count) {
      st.min = mn;
      st.max = mx;
      st.mean = sum / st.count;
      st.std = std::sqrt(std::max(0.0, sumsq / st.count - st.mean * st.mean));
    }
    e.stats = st;
  }
}

herr_t visit(hid_t root, const char* name, const H5O_info_t* info, void* data) {
  auto* ctx = static_cast<WalkCtx*>(data);
  std::string path = std::string("/") + (std::string(name) == "." ? "" : name);
  bool prov = path == "/provenance" || path.rfind("/provenance/", 0) == 0;
  if (prov && !ctx->opt->show_provenance_group) return 0;
  Entry e;
  e.path = path;
  Hid obj(H5Oopen(root, name, H5P_DEFAULT));
  if (!obj.valid()) return 0;
  if (info->type == H5O_TYPE_GROUP) {
    e.is_group = true;
  } else if (info->type == H5O_TYPE_DATASET) {
    Hid type(H5Dget_type(obj.get()));
    Hid space(H5Dget_space(obj.get()));
    e.dtype = io::detail::type_name(type.get());
    int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(std::max(rank, 0));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    for (auto v : dims) e.shape.push_back(static_cast<int64_t>(v));
    dataset_values(*ctx->in, obj.get(), type.get(), *ctx->opt, e);
  } else {
    e.dtype = "named datatype";
  }
  read_attrs(obj.get(), ctx->in->path() + ": " + path, e);
  ctx->out->push_back(std::move(e));
  return 0;
}

}  // namespace

std::string attr_json(const io::AttrValue& v) {
  auto q = [](const std::string& s) { return "\"" + json_escape(s) + "\""; };
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return q(x);
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) return json_num(x);
        else {
          std::string o = "[";
          for (size_t i = 0; i < x.size(); ++i) {
            if (i) o += ", ";
            if constexpr (std::is_same_v<T, std::vector<std::string>>) o += q(x[i]);
            else if constexpr (std::is_same_v<T, std::vector<int64_t>>) o += std::to_string(x[i]);
            else o += json_num(x[i]);
          }
          return o + "]";
        }
      },
      v);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

std::vector<Entry> walk(const io::H5In& in, const Options& opt) {
  std::vector<Entry> out;
  WalkCtx ctx{&in, &opt, &out};
  std::exception_ptr err;
  // H5Ovisit cannot carry C++ exceptions through C frames: trap and rethrow.
  struct Trap { WalkCtx* ctx; std::exception_ptr* err; } trap{&ctx, &err};
  herr_t rc = H5Ovisit(in.handle(), H5_INDEX_NAME, H5_ITER_INC,
                       [](hid_t o, const char* n, const H5O_info_t* i, void* d) -> herr_t {
                         auto* t = static_cast<Trap*>(d);
                         try {
                           return visit(o, n, i, t->ctx);
                         } catch (...) {
                           *t->err = std::current_exception();
                           return -1;
                         }
                       },
                       &trap);
  if (err) std::rethrow_exception(err);
  if (rc < 0) throw DataError(in.path() + ": cannot walk the file (" + io::h5_error_text() + ")");
  return out;
}

void print_text(const io::H5In& in, const std::vector<Entry>& entries, std::ostream& os) {
  std::string kind = in.kind();
  os << in.path() << ": " << in.size_bytes() << " bytes, sha256 " << in.sha256() << "\n";
  os << "qkv_format: " << (kind.empty() ? "(none: not written by qkv)" : kind) << "\n";
  for (const auto& e : entries) {
    int depth = static_cast<int>(std::count(e.path.begin(), e.path.end(), '/')) - (e.path == "/" ? 1 : 0);
    std::string indent(2 * depth, ' ');
    std::string leaf = e.path == "/" ? "/" : e.path.substr(e.path.rfind('/') + 1);
    if (e.is_group) {
      os << indent << leaf << (e.path == "/" ? "" : "/") << "\n";
    } else {
      os << indent << leaf << "  " << e.dtype << " " << shape_str(e.shape);
      if (e.has_stats) {
        if (e.stats.count)
          os << "  min " << fmt(e.stats.min) << " max " << fmt(e.stats.max) << " mean " << fmt(e.stats.mean)
             << " std " << fmt(e.stats.std);
        if (e.stats.nan || e.stats.inf) os << "  nan " << e.stats.nan << " inf " << e.stats.inf;
      }
      os << "\n";
      if (!e.head.empty()) {
        os << indent << "  head:";
        for (auto& h : e.head) os << " " << h;
        os << "\n";
      }
    }
    for (auto& a : e.attrs)
      os << indent << "  @" << a.name << " = " << (a.supported ? io::attr_value_str(a.value) : "<unsupported type>")
         << "\n";
  }
  const auto& prov = in.provenance();
  if (!prov.empty()) {
    os << "provenance (oldest first):\n";
    for (size_t i = 0; i < prov.size(); ++i) {
      const auto& r = prov[i];
      os << "  [" << i << "] " << r.time_utc << " " << r.tool << " " << r.version << ": " << r.command_line << "\n";
      for (size_t k = 0; k < r.inputs.size(); ++k)
        os << "      input " << r.inputs[k] << " sha256 "
           << (k < r.input_sha256.size() ? r.input_sha256[k] : std::string("?")) << "\n";
    }
  }
}

void print_json(const io::H5In& in, const std::vector<Entry>& entries, std::ostream& os) {
  auto q = [](const std::string& s) { return "\"" + json_escape(s) + "\""; };
  os << "{\"file\": " << q(in.path()) << ", \"size_bytes\": " << in.size_bytes() << ", \"sha256\": " << q(in.sha256())
     << ", \"qkv_format\": " << (in.kind().empty() ? "null" : q(in.kind())) << ",\n \"objects\": [";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    os << (i ? ",\n  " : "\n  ") << "{\"path\": " << q(e.path) << ", \"type\": " << (e.is_group ? "\"group\"" : "\"dataset\"");
    if (!e.is_group) {
      os << ", \"dtype\": " << q(e.dtype) << ", \"shape\": [";
      for (size_t k = 0; k < e.shape.size(); ++k) os << (k ? ", " : "") << e.shape[k];
      os << "]";
      if (e.has_stats)
        os << ", \"stats\": {\"count\": " << e.stats.count << ", \"min\": " << (e.stats.count ? json_num(e.stats.min) : "null")
           << ", \"max\": " << (e.stats.count ? json_num(e.stats.max) : "null")
           << ", \"mean\": " << (e.stats.count ? json_num(e.stats.mean) : "null")
           << ", \"std\": " << (e.stats.count ? json_num(e.stats.std) : "null") << ", \"nan\": " << e.stats.nan
           << ", \"inf\": " << e.stats.inf << "}";
      if (!e.head.empty()) {
        os << ", \"head\": [";
        for (size_t k = 0; k < e.head.size(); ++k) {
          const std::string& h = e.head[k];
          bool is_str = !h.empty() && h[0] == '"';
          os << (k ? ", " : "") << (is_str ? q(h.substr(1, h.size() - 2)) : (h == "nan" || h == "inf" || h == "-inf" ? "null" : h));
        }
        os << "]";
      }
    }
    os << ", \"attrs\": {";
    for (size_t k = 0; k < e.attrs.size(); ++k)
      os << (k ? ", " : "") << q(e.attrs[k].name) << ": "
         << (e.attrs[k].supported ? attr_json(e.attrs[k].value) : std::string("null"));
    os << "}}";
  }
  os << "\n ],\n \"provenance\": [";
  const auto& prov = in.provenance();
  for (size_t i = 0; i < prov.size(); ++i) {
    const auto& r = prov[i];
    os << (i ? ",\n  " : "\n  ") << "{\"tool\": " << q(r.tool) << ", \"version\": " << q(r.version)
       << ", \"command_line\": " << q(r.command_line) << ", \"time_utc\": " << q(r.time_utc) << ", \"inputs\": [";
    for (size_t k = 0; k < r.inputs.size(); ++k) os << (k ? ", " : "") << q(r.inputs[k]);
    os << "], \"input_sha256\": [";
    for (size_t k = 0; k < r.input_sha256.size(); ++k) os << (k ? ", " : "") << q(r.input_sha256[k]);
    os << "]}";
  }
  os << "\n ]}\n";
}

}  // namespace qkv::inspect
