#include "io/h5_attr.h"
#include "io/h5_probed.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace qkv::io {

std::string attr_value_str(const AttrValue& v) {
  std::ostringstream os;
  os.precision(9);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          os << '"' << x << '"';
        } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          os << x;
        } else {
          os << '[';
          for (size_t i = 0; i < x.size(); ++i) {
            if (i) os << ", ";
            if constexpr (std::is_same_v<T, std::vector<std::string>>) os << '"' << x[i] << '"';
            else os << x[i];
          }
          os << ']';
        }
      },
      v);
  return os.str();
}

namespace detail {

void Hid::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Oclose(id_); break;
  }
  id_ = -1;
}

std::vector<std::string> child_names(hid_t group) {
  std::vector<std::string> names;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
             [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
               static_cast<std::vector<std::string>*>(data)->emplace_back(name);
               return 0;
             },
             &names);
  std::sort(names.begin(), names.end());
  return names;
}

std::string type_name(hid_t t) {
  size_t size = H5Tget_size(t);
  switch (H5Tget_class(t)) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * size);
    case H5T_FLOAT: return "float" + std::to_string(8 * size);
    case H5T_STRING: return "string";
    case H5T_ENUM: return "enum";
    case H5T_COMPOUND: return "compound";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "vlen";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    default: return "other";
  }
}

hid_t utf8_vlen_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

hid_t object_create_plist(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  H5Pset_obj_track_times(p, false);
  return p;
}

void write_attr(hid_t obj, const std::string& name, const AttrValue& value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  auto make = [&](hid_t file_type, hid_t space) {
    hid_t a = H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw DataError("cannot create attribute " + name);
    return Hid(a);
  };
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          Hid space(H5Screate(H5S_SCALAR));
          hid_t ft = std::is_same_v<T, int64_t> ? H5T_STD_I64LE : H5T_IEEE_F64LE;
          hid_t mt = std::is_same_v<T, int64_t> ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
          Hid a = make(ft, space.get());
          H5Awrite(a.get(), mt, &x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          Hid space(H5Screate(H5S_SCALAR));
          Hid type(utf8_vlen_string_type());
          Hid a = make(type.get(), space.get());
          const char* p = x.c_str();
          H5Awrite(a.get(), type.get(), &p);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          hsize_t n = x.size();
          Hid space(H5Screate_simple(1, &n, nullptr));
          Hid type(utf8_vlen_string_type());
          Hid a = make(type.get(), space.get());
          std::vector<const char*> ptrs;
          for (auto& s : x) ptrs.push_back(s.c_str());
          if (n) H5Awrite(a.get(), type.get(), ptrs.data());
        } else {
          using E = typename T::value_type;
          hsize_t n = x.size();
          Hid space(H5Screate_simple(1, &n, nullptr));
          hid_t ft = std::is_same_v<E, int64_t> ? H5T_STD_I64LE : H5T_IEEE_F64LE;
          hid_t mt = std::is_same_v<E, int64_t> ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
          Hid a = make(ft, space.get());
          if (n) H5Awrite(a.get(), mt, x.data());
        }
      },
      value);
}

std::vector<std::string> read_string_values(hid_t obj, hid_t type, hid_t space, bool is_attr,
                                            const std::string& where) {
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) throw DataError(where + ": unreadable dataspace");
  std::vector<std::string> out;
  if (n == 0) return out;
  if (H5Tis_variable_str(type) > 0) {
    // An outside file's: what the probe's child read, never libhdf5's global heap here.
    if (const ProbedFile* p = probed(obj)) {
      if (is_attr) throw DataError(where + ": cannot read strings");  // read_attr answers from the table
      auto it = p->strings.find(object_key(obj));
      if (it == p->strings.end() || static_cast<hssize_t>(it->second.size()) != n)
        throw DataError(where + ": cannot read strings");
      return it->second;
    }
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    Hid mt(H5Tcopy(H5T_C_S1));
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), H5Tget_cset(type));
    herr_t rc = is_attr ? H5Aread(obj, mt.get(), ptrs.data())
                        : H5Dread(obj, mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
    if (rc < 0) {  // a read that failed midway has allocated the strings before the bad one
      H5Dvlen_reclaim(mt.get(), space, H5P_DEFAULT, ptrs.data());
      throw DataError(where + ": cannot read strings");
    }
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mt.get(), space, H5P_DEFAULT, ptrs.data());
    if (ProbedFile* t = recording(); t && !is_attr) t->strings[object_key(obj)] = out;  // for the parent
  } else {
    size_t len = H5Tget_size(type);
    std::vector<char> buf(static_cast<size_t>(n) * len);
    Hid mt(H5Tcopy(type));
    herr_t rc = is_attr ? H5Aread(obj, mt.get(), buf.data())
                        : H5Dread(obj, mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    if (rc < 0) throw DataError(where + ": cannot read strings");
    for (hssize_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * len;
      size_t l = strnlen(p, len);
      while (l && p[l - 1] == ' ' && H5Tget_strpad(type) == H5T_STR_SPACEPAD) --l;
      out.emplace_back(p, l);
    }
  }
  return out;
}

namespace {

// The attribute read by libhdf5; w: "WHERE attribute NAME".
AttrValue read_attr_here(hid_t obj, const std::string& name, const std::string& w) {
  Hid a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a.valid()) throw DataError(w + ": missing");
  Hid type(H5Aget_type(a.get()));
  Hid space(H5Aget_space(a.get()));
  int rank = H5Sget_simple_extent_ndims(space.get());
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (rank < 0 || n < 0) throw DataError(w + ": unreadable dataspace");
  if (rank > 1) throw DataError(w + ": attributes of rank " + std::to_string(rank) + " are not supported");
  // Its values are in the file: a count beyond the file's size is a corrupt header.
  Hid file(H5Iget_file_id(obj));
  hsize_t file_bytes = 0;
  if (file.valid()) H5Fget_filesize(file.get(), &file_bytes);
  if (static_cast<uint64_t>(n) > file_bytes)
    throw DataError(w + ": claims " + std::to_string(n) + " values, more than the file holds (corrupt header?)");
  bool scalar = rank == 0;
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    std::string bad = number_type_problem(type.get());
    if (!bad.empty()) throw DataError(w + ": " + bad);
  }
  switch (cls) {
    case H5T_INTEGER: {
      std::vector<int64_t> v(static_cast<size_t>(n));
      if (n && H5Aread(a.get(), H5T_NATIVE_INT64, v.data()) < 0) throw DataError(w + ": unreadable");
      if (scalar) return v.at(0);
      return v;
    }
    case H5T_FLOAT: {
      std::vector<double> v(static_cast<size_t>(n));
      if (n && H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()) < 0) throw DataError(w + ": unreadable");
      if (scalar) return v.at(0);
      return v;
    }
    case H5T_STRING: {
      auto v = read_string_values(a.get(), type.get(), space.get(), true, w);
      if (scalar) return v.empty() ? std::string() : v[0];
      return v;
    }
    default:
      throw DataError(w + ": unsupported attribute type (integers, floats and strings only)");
  }
}

// The child's list of obj's attributes.
const std::vector<std::string>& probed_attr_names(const ProbedFile& p, hid_t obj, const std::string& where) {
  auto it = p.attr_names.find(object_key(obj));
  if (it == p.attr_names.end()) throw DataError(where + ": cannot list attributes");
  return it->second;
}

}  // namespace

AttrValue read_attr(hid_t obj, const std::string& name, const std::string& where) {
  const std::string w = where + " attribute " + name;
  if (const ProbedFile* p = probed(obj)) {
    auto it = p->attrs.find(attr_key(obj, name));
    if (it == p->attrs.end()) throw DataError(w + (attr_exists(obj, name, where) ? ": cannot read" : ": missing"));
    if (!it->second.ok) throw DataError(w + it->second.error);
    return it->second.value;
  }
  ProbedFile* t = recording();  // in the probe's child: for the parent
  try {
    AttrValue v = read_attr_here(obj, name, w);
    if (t) t->attrs[attr_key(obj, name)] = ProbedAttr{true, v, ""};
    return v;
  } catch (const DataError& e) {
    const std::string msg = e.what();
    if (t) t->attrs[attr_key(obj, name)] = ProbedAttr{false, {}, msg.rfind(w, 0) == 0 ? msg.substr(w.size()) : ": " + msg};
    throw;
  }
}

std::vector<std::string> attr_names(hid_t obj, const std::string& where) {
  if (const ProbedFile* p = probed(obj)) return probed_attr_names(*p, obj, where);
  std::vector<std::string> names;
  hsize_t idx = 0;
  herr_t rc = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
                          [](hid_t, const char* name, const H5A_info_t*, void* d) -> herr_t {
                            static_cast<std::vector<std::string>*>(d)->emplace_back(name);
                            return 0;
                          },
                          &names);
  if (rc < 0) throw DataError(where + ": cannot list attributes");
  if (ProbedFile* t = recording()) t->attr_names[object_key(obj)] = names;
  return names;
}

bool attr_exists(hid_t obj, const std::string& name, const std::string& where) {
  if (const ProbedFile* p = probed(obj)) {
    const std::vector<std::string>& names = probed_attr_names(*p, obj, where);
    return std::find(names.begin(), names.end(), name) != names.end();
  }
  htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::string number_type_problem(hid_t type) {
  const size_t size = H5Tget_size(type);
  if (size == 0 || size > 8)
    return "a " + std::to_string(8 * size) + "-bit number type (qkv reads numbers of at most 64 bits)";
  const size_t bits = 8 * size, prec = H5Tget_precision(type);
  const int off = H5Tget_offset(type);
  if (prec == 0 || off < 0 || prec + static_cast<size_t>(off) > bits)
    return "its number type claims " + std::to_string(prec) + " bits at bit " + std::to_string(off) + " of " +
           std::to_string(bits) + " (corrupt header?)";
  if (H5Tget_class(type) == H5T_FLOAT) {
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    const size_t end = prec + static_cast<size_t>(off);
    if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0 || esize == 0 || esize > 16 || msize == 0 ||
        spos >= end || epos + esize > end || mpos + msize > end)
      return "its float type's sign, exponent and mantissa fields do not fit its " + std::to_string(bits) +
             " bits (corrupt header?)";
  }
  return "";
}

}  // namespace detail
}  // namespace qkv::io
