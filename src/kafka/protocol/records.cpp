// Records: null, a view, owned bytes or file ranges (records.hpp).
#include "kafka/protocol/records.hpp"

#include <algorithm>
#include <utility>

namespace skein::kafka {

Records Records::view(std::span<const std::byte> bytes) {
  Records r;
  r.kind_ = Kind::view;
  r.view_ = bytes;
  return r;
}

Records Records::owned(std::vector<std::byte> bytes) {
  Records r;
  r.kind_ = Kind::owned;
  r.owned_ = std::move(bytes);
  return r;
}

Records Records::files(std::vector<storage::FileRange> ranges) {
  Records r;
  r.kind_ = Kind::files;
  r.files_ = std::move(ranges);
  return r;
}

std::size_t Records::size() const {
  switch (kind_) {
    case Kind::null:
      return 0;
    case Kind::view:
      return view_.size();
    case Kind::owned:
      return owned_.size();
    case Kind::files: {
      std::size_t total = 0;
      for (const auto& range : files_) total += range.length;
      return total;
    }
  }
  return 0;
}

std::span<const std::byte> Records::bytes() const {
  // Computed on each call rather than cached, so that copying or moving an
  // owned value never leaves a span into another object's vector.
  if (kind_ == Kind::view) return view_;
  if (kind_ == Kind::owned) return owned_;
  return {};
}

bool Records::operator==(const Records& other) const {
  if (is_null() || other.is_null()) return is_null() && other.is_null();
  if (in_memory() && other.in_memory()) {
    const auto a = bytes();
    const auto b = other.bytes();
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  if (in_files() && other.in_files()) {
    return std::equal(files_.begin(), files_.end(), other.files_.begin(), other.files_.end(),
                      [](const storage::FileRange& x, const storage::FileRange& y) {
                        return x.file == y.file && x.position == y.position && x.length == y.length;
                      });
  }
  return false;
}

}  // namespace skein::kafka
