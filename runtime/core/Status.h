//===- Status.h - errors as values across runtime APIs --------------------===//
//
// The runtime reports every failure (bad plan, bad data, a shape a kernel cannot take) as a
// Status with a message that names the problem; nothing deep in a library calls exit() or
// throws. Tools turn a failed Status into a message on stderr and a non-zero exit code.
//
//===----------------------------------------------------------------------===//
#ifndef DS_RUNTIME_CORE_STATUS_H
#define DS_RUNTIME_CORE_STATUS_H

#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace ds::rt {

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool isOk() const { return !message_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const std::string &message() const {
    static const std::string none;
    return message_ ? *message_ : none;
  }

private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

/// A value or the Status that explains why there is none.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Status status) : status_(std::move(status)) {}

  bool isOk() const { return value_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status &status() const { return status_; }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }
  T take() { return std::move(*value_); }

private:
  std::optional<T> value_;
  Status status_;
};

/// Builds an error message from streamable parts: errorf("expected ", n, " got ", m).
template <typename... Parts> Status errorf(const Parts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return Status::error(os.str());
}

} // namespace ds::rt

/// Returns early from the enclosing function with the error of a failed Status.
#define DS_RETURN_IF_ERROR(expr)                                                            \
  do {                                                                                      \
    ::ds::rt::Status dsStatus_ = (expr);                                                    \
    if (!dsStatus_.isOk())                                                                  \
      return dsStatus_;                                                                     \
  } while (0)

#endif
