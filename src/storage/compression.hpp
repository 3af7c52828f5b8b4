// The compression codecs of Kafka v2 record batches: attributes bits 0-2 name the
// codec, and when it is not `none` the records section (everything after the
// 61-byte header, record_batch.hpp) is one compressed stream of the records.
// Each codec is taken as real clients (the Java client, librdkafka, kafkajs)
// write it:
//
//   gzip    a gzip stream (RFC 1952); several concatenated members are one stream.
//   snappy  the xerial/snappy-java framing the Java client writes: magic
//           82 'S' 'N' 'A' 'P' 'P' 'Y' 00, int32 version, int32 compatible
//           version, then [int32 block length][raw snappy block]...; or a
//           single raw snappy block, which librdkafka may send.
//   lz4     the LZ4 frame format with independent blocks (Kafka refuses linked
//           ones, so a broker must too).
//   zstd    zstd frames, with or without the content size in the header.
//
// The CRC-32C of the batch already covers the compressed bytes, so no codec's
// own checksum is relied on; decompression still rejects whatever the codec
// finds malformed. Input is hostile: every failure is an Error, never a crash,
// and the output is bounded while it is produced, so a small input that would
// expand into gigabytes (a "decompression bomb") fails after at most about
// max_output_bytes of work and output buffer. (The codecs' own working memory
// comes on top: zlib's 32 KiB window, an lz4 block of up to 4 MiB, a zstd
// window of up to the limit or 8 MiB, whichever is larger, see compression.cpp.)
// Bytes only: no files, no sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "storage/storage_error.hpp"

namespace skein::storage {

// The codec ids of batch attributes bits 0-2; 5, 6 and 7 are unassigned.
enum class Codec : int { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

// "none", "gzip", "snappy", "lz4", "zstd" ("unknown" for a value outside the enum).
std::string_view codec_name(Codec codec);

// The codec with that attribute id, or nullopt for an unassigned one.
std::optional<Codec> codec_from_id(int id);

// Decompresses a records section. Fails with Errc::invalid_batch, and a message
// starting with the codec's name, when the input is malformed or truncated, or
// when it would decompress to more than `max_output_bytes`.
Result<std::vector<std::byte>> decompress(Codec codec, std::span<const std::byte> input,
                                          std::size_t max_output_bytes);

// Compresses a records section at the codec's default level, framed as the Java
// client frames it (xerial snappy in 32 KiB blocks, lz4 frames of independent
// 64 KiB blocks). Fails only when a library does (out of memory: Errc::io).
Result<std::vector<std::byte>> compress(Codec codec, std::span<const std::byte> input);

}  // namespace skein::storage
