// libFuzzer target for the mesh link's frame decoder (mesh/frame.hpp), which
// reads whatever a peer (or anyone who reaches port 7946) sends: any bytes are
// split into frames or refused, every frame decodes or is refused with a
// reason, and whatever decodes encodes to bytes that decode the same again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mesh/frame.hpp"

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}

using namespace skein::mesh;

// Encodes a decoded frame again (events as sent: shared, unchanged).
std::string reencode(const Frame& frame) {
  std::string out;
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, ReceivedEvents>) {
          EventsFrame e;
          e.persistent = f.persistent;
          e.first = f.first;
          for (const auto& ev : f.events)
            e.events.push_back(std::make_shared<const skein::core::Event>(ev));
          OriginTable fresh;
          encode(out, e, 64, &fresh);
        } else {
          encode(out, f);
        }
      },
      frame);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kMax = 1 << 20;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  OriginTable table;  // the link's, across the frames of this input
  while (!input.empty()) {
    const FrameSize n = frame_size(input, kMax);
    if (n.error) return 0;
    if (!n.whole) return 0;
    const Decoded d = decode(input.substr(0, *n.whole), kMax, &table);
    input.remove_prefix(*n.whole);
    require(d.frame.has_value() != d.error.has_value());
    if (!d.frame) continue;
    const std::string again = reencode(*d.frame);
    OriginTable again_table;
    const Decoded back = decode(again, kMax, &again_table);
    require(back.frame.has_value());
    require(back.frame->index() == d.frame->index());
    if (const auto* e = std::get_if<ReceivedEvents>(&*d.frame)) {
      const auto& b = std::get<ReceivedEvents>(*back.frame);
      require(b.events.size() == e->events.size());
      for (std::size_t i = 0; i < b.events.size(); ++i) {
        require(b.events[i].topic == e->events[i].topic);
        require(b.events[i].payload == e->events[i].payload);
        require(b.events[i].origin.sequence == e->events[i].origin.sequence);
      }
    }
    if (const auto* r = std::get_if<RegistryFrame>(&*d.frame))
      require(std::get<RegistryFrame>(*back.frame).records == r->records);
  }
  return 0;
}
