// Errors of the storage engine as values (DESIGN.md §4: "errors are values
// that say what failed"), and Result<T>, a value or such an error. Storage
// never throws: a failing partition reports, and the others carry on.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace skein::storage {

enum class Errc {
  io,              // an I/O call failed for another reason (the message has errno's text)
  no_space,        // ENOSPC / EDQUOT: the disk is full
  permission,      // EACCES / EPERM / EROFS
  corrupt,         // the data on disk is not what was written
  out_of_range,    // an offset below the log start or past the end
  invalid_batch,   // an append refused: not a valid batch
  invalid_config,  // a stream setting out of its range, or an illegal stream name
  exists,          // a stream of that name exists already
  not_found,       // no stream of that name
  out_of_order,    // an idempotent producer's sequence has a gap
  fenced,          // an idempotent producer's epoch is older than the partition's
};

struct Error {
  Errc code = Errc::io;
  std::string message;  // says what failed and where: file, offset
};

// The error for a failed system call on `what` ("write data/0.log").
Error system_error(int error_number, const std::string& what);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT
  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(state_); }
  const T& value() const { return std::get<0>(state_); }
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace skein::storage
