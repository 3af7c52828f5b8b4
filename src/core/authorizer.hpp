// The Authorizer (DESIGN.md §5): every connection carries a Principal, and
// every connect, publish and subscribe of the faces asks this one object, so
// that the security work can put real credentials and ACLs here without
// touching a handler. Until then it allows everything, except anonymous
// connections when the node is told to refuse them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace skein::core {

struct Principal {
  std::string name;  // empty: anonymous
  bool anonymous() const { return name.empty(); }
};

enum class AuthFailure { bad_credentials, not_authorized };

class Authorizer {
 public:
  explicit Authorizer(bool allow_anonymous = true) : allow_anonymous_(allow_anonymous) {}

  // Who is connecting, from the credentials the client gave; nullopt when it
  // may not connect (`failure` says why).
  std::optional<Principal> authenticate(const std::optional<std::string>& username,
                                        const std::optional<std::string>& password,
                                        AuthFailure& failure) const {
    (void)password;  // no user store yet: any password is accepted
    if (!username || username->empty()) {
      if (allow_anonymous_) return Principal{};
      failure = AuthFailure::not_authorized;
      return std::nullopt;
    }
    return Principal{*username};
  }
  bool may_publish(const Principal&, std::string_view /*topic*/) const { return true; }
  bool may_subscribe(const Principal&, std::string_view /*filter*/) const { return true; }

 private:
  bool allow_anonymous_;
};

}  // namespace skein::core
