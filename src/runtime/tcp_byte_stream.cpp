// A TCP socket read and written directly, its readiness from the shard's
// ReadinessPoller (tcp_byte_stream.hpp).
#include "runtime/tcp_byte_stream.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "runtime/slab_pool.hpp"

namespace skein::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

asio::io_context& io_context_of(const asio::any_io_executor& executor) {
  return static_cast<asio::io_context&>(asio::query(executor, asio::execution::context));
}

error_code last_error() {
  return error_code(errno, boost::system::system_category());
}

}  // namespace

namespace {
// The descriptor of `socket`, non-blocking, no longer Asio's.
int release_non_blocking(tcp::socket& socket) {
  socket.non_blocking(true);
  return socket.release();
}
}  // namespace

TcpByteStream::TcpByteStream(tcp::socket&& socket)
    : TcpByteStream(io_context_of(socket.get_executor()), release_non_blocking(socket)) {}

TcpByteStream::TcpByteStream(asio::io_context& context, int fd)
    : poller_(&ReadinessPoller::of(context)), fd_(fd) {}

void TcpByteStream::join() {
  // Only once something must wait: a connection whose CONNECT is there when
  // it is read (most are) moves to its home shard before it joins any
  // poller. Joining reports what is ready already, so no edge is missed.
  if (joined_ || fd_ < 0) return;
  poller_->add(fd_, *this);
  joined_ = true;
}

void* TcpByteStream::operator new(std::size_t size) {
  return SlabAllocator<TcpByteStream>().allocate(size / sizeof(TcpByteStream));
}

void TcpByteStream::operator delete(void* block, std::size_t size) noexcept {
  SlabAllocator<TcpByteStream>().deallocate(static_cast<TcpByteStream*>(block),
                                            size / sizeof(TcpByteStream));
}

TcpByteStream::~TcpByteStream() {
  if (fd_ < 0) return;
  poller_->remove(fd_, *this);
  ::close(fd_);
}

std::size_t TcpByteStream::read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                                          error_code& ec) {
  if (fd_ < 0) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  constexpr std::size_t kChunk = 64 * 1024;
  constexpr std::size_t kProbe = 512;  // when the kernel would not say how much
  int available = 0;
  // Size the buffer by what is waiting, not by the chunk: a device's packet
  // of 30 bytes takes 30 bytes, not a page.
  std::size_t want = kProbe;
  if (::ioctl(fd_, FIONREAD, &available) == 0 && available > 0)
    want = static_cast<std::size_t>(available);
  want = std::min(want, max_bytes == 0 ? kChunk : max_bytes);
  const std::size_t old = buffer.size();
  buffer.resize(old + want);
  ssize_t n;
  do n = ::recv(fd_, buffer.data() + old, want, 0);
  while (n < 0 && errno == EINTR);
  const int error = n < 0 ? errno : 0;
  buffer.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  if (buffer.empty()) buffer.shrink_to_fit();
  if (n > 0) return static_cast<std::size_t>(n);
  if (n == 0) {
    ec = asio::error::eof;
  } else if (error == EAGAIN || error == EWOULDBLOCK) {
    readable_ = false;  // until epoll says otherwise
  } else {
    ec = error_code(error, boost::system::system_category());
  }
  return 0;
}

asio::awaitable<std::size_t> TcpByteStream::read_some(std::vector<std::uint8_t>& buffer,
                                                      std::size_t max_bytes) {
  while (true) {
    error_code ec;
    const std::size_t n = read_available(buffer, max_bytes, ec);
    if (n > 0) co_return n;
    if (ec == asio::error::eof) co_return 0;
    if (ec) throw boost::system::system_error(ec);
    co_await wait_for(false);
  }
}

asio::awaitable<void> TcpByteStream::write(std::span<const std::uint8_t> bytes) {
  // Never complete within the caller's turn, as an Asio write does not: the
  // caller may be in the middle of filling what it writes next (and what
  // it adds meanwhile goes out with the next write).
  co_await asio::post(asio::use_awaitable);
  while (!bytes.empty()) {
    if (fd_ < 0) throw boost::system::system_error(asio::error::operation_aborted);
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      writable_ = false;
      co_await wait_for(true);
    } else {
      throw boost::system::system_error(n < 0 ? last_error() : asio::error::connection_reset);
    }
  }
}

asio::awaitable<void> TcpByteStream::wait_for(bool write) {
  auto initiate = [this, write](auto handler) {
    Waiter waiter(std::move(handler));
    if (fd_ < 0) return complete_later(std::move(waiter), asio::error::operation_aborted);
    if (write ? writable_ : readable_) return complete_later(std::move(waiter), {});
    // Swapped in: Boost 1.81's move assignment wraps the handler in itself.
    waiter.swap(write ? waits().write : waits().read);
  };
  join();
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void(error_code)>(
      initiate, asio::use_awaitable);
}

void TcpByteStream::wait_readable(asio::any_io_executor executor,
                                  std::shared_ptr<ReadinessListener> listener) {
  if (executor != asio::any_io_executor(poller_->context().get_executor()))
    waits().listener_executor = std::move(executor);
  else if (waits_)
    waits_->listener_executor.reset();
  join();
  if (fd_ < 0) return notify_later(std::move(listener), asio::error::operation_aborted);
  if (readable_) return notify_later(std::move(listener), {});
  listener_ = std::move(listener);
}

TcpByteStream::Waits& TcpByteStream::waits() {
  if (!waits_) waits_ = std::make_unique<Waits>();
  return *waits_;
}

void TcpByteStream::notify_later(std::shared_ptr<ReadinessListener> listener, error_code ec) {
  auto call = [listener = std::move(listener), ec] { listener->on_readable(ec); };
  if (waits_ && waits_->listener_executor)
    asio::post(*waits_->listener_executor, std::move(call));
  else
    asio::post(poller_->context(), std::move(call));
}

void TcpByteStream::complete_later(Waiter waiter, error_code ec) {
  asio::post(poller_->context(),
             [waiter = std::move(waiter), ec]() mutable { std::move(waiter)(ec); });
}

void TcpByteStream::on_events(std::uint32_t events) {
  constexpr std::uint32_t kEnded = EPOLLHUP | EPOLLERR;
  if (events & (EPOLLOUT | kEnded)) {
    writable_ = true;
    if (waits_ && waits_->write) complete_later(std::move(waits_->write), {});
  }
  if (events & (EPOLLIN | EPOLLRDHUP | kEnded)) {
    readable_ = true;
    if (waits_ && waits_->read) complete_later(std::move(waits_->read), {});
    if (listener_ && !(waits_ && waits_->listener_executor)) {
      // Last: the listener may close and destroy this stream.
      auto listener = std::move(listener_);
      listener->on_readable({});
      return;
    }
    if (listener_) notify_later(std::move(listener_), {});
  }
}

void TcpByteStream::on_shutdown() {
  // The waiting handlers may own this stream: move them out first.
  auto listener = std::move(listener_);
  auto waits = std::move(waits_);
}

void TcpByteStream::close() {
  if (fd_ < 0) return;
  poller_->remove(fd_, *this);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
  // Pending operations fail, as an Asio socket's do.
  if (waits_ && waits_->read)
    complete_later(std::move(waits_->read), asio::error::operation_aborted);
  if (waits_ && waits_->write)
    complete_later(std::move(waits_->write), asio::error::operation_aborted);
  if (listener_) notify_later(std::move(listener_), asio::error::operation_aborted);
}

std::string TcpByteStream::peer() const {
  tcp::endpoint endpoint;
  socklen_t size = static_cast<socklen_t>(endpoint.capacity());
  if (fd_ < 0 || ::getpeername(fd_, endpoint.data(), &size) != 0) return "?";
  endpoint.resize(size);
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

std::unique_ptr<ByteStream> TcpByteStream::rehome(asio::any_io_executor executor) {
  // No operation is pending: the connection is between reads.
  poller_->remove(fd_, *this);
  const int fd = fd_;
  fd_ = -1;
  return std::make_unique<TcpByteStream>(io_context_of(executor), fd);
}

}  // namespace skein::runtime
