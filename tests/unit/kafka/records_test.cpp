// Records and zero-copy output (kafka/protocol/records.hpp, writer.hpp): a
// Fetch response whose records are ranges of a real file comes out as
// in-memory pieces around file pieces, with length prefixes and the frame size
// counting the file bytes, and reads back (flatten) as the bytes a client
// would receive.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "kafka/protocol/messages/fetch.hpp"
#include "kafka/protocol/request_header.hpp"
#include "storage/segment.hpp"
#include "test_bytes.hpp"

namespace skein::kafka {
namespace {

using storage::FileHandle;
using storage::FileRange;
using test::hex;
using test::text_bytes;
using test::to_hex;

// A temporary file holding `content`, unlinked at once: the handle keeps it.
std::shared_ptr<const FileHandle> temp_file(std::string_view content) {
  std::string path = testing::TempDir() + "kafka_records_XXXXXX";
  const int fd = ::mkstemp(path.data());
  EXPECT_GE(fd, 0);
  ::unlink(path.c_str());
  EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  return std::make_shared<const FileHandle>(fd);
}

TEST(KafkaRecords, NullViewOwnedAndFiles) {
  const Records null_records;
  EXPECT_TRUE(null_records.is_null());
  EXPECT_EQ(null_records.size(), 0u);

  const auto bytes = text_bytes("abc");
  const Records view = Records::view(bytes);
  const Records owned = Records::owned(text_bytes("abc"));
  EXPECT_TRUE(view.in_memory());
  EXPECT_EQ(view, owned);  // same content
  EXPECT_NE(view, Records::owned(text_bytes("abd")));
  EXPECT_NE(view, null_records);
  EXPECT_EQ(Records::owned({}), Records::view({}));  // empty, not null
  EXPECT_NE(Records::owned({}), null_records);

  // A copied owned value views its own bytes, not the original's.
  Records copy = owned;
  EXPECT_NE(copy.bytes().data(), owned.bytes().data());
  EXPECT_EQ(copy, owned);

  auto file = temp_file("0123456789");
  const Records files = Records::files({FileRange{file, 2, 3}, FileRange{file, 7, 2}});
  EXPECT_TRUE(files.in_files());
  EXPECT_EQ(files.size(), 5u);
  EXPECT_TRUE(files.bytes().empty());
  EXPECT_EQ(files, Records::files({FileRange{file, 2, 3}, FileRange{file, 7, 2}}));
  EXPECT_NE(files, Records::files({FileRange{file, 2, 3}}));
  EXPECT_NE(files, Records::owned(text_bytes("23478")));  // never read to compare
}

TEST(KafkaRecords, FileRangesBecomeFilePieces) {
  auto file = temp_file("0123456789abcdef");
  const Records records =
      Records::files({FileRange{file, 2, 4}, FileRange{file, 9, 0}, FileRange{file, 10, 3}});

  Writer writer;
  writer.write_int8(1);
  writer.write_records(records, false);
  writer.write_int8(2);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE(writer.has_files());
  EXPECT_EQ(writer.size(), 1u + 4u + 7u + 1u);

  const auto pieces = writer.pieces();
  ASSERT_EQ(pieces.size(), 4u);  // the empty range is dropped
  EXPECT_EQ(pieces[0].file, nullptr);
  EXPECT_EQ(to_hex(pieces[0].bytes), "01 00 00 00 07");
  ASSERT_NE(pieces[1].file, nullptr);
  EXPECT_EQ(pieces[1].file->position, 2u);
  EXPECT_EQ(pieces[1].file->length, 4u);
  EXPECT_EQ(pieces[1].file->fd(), file->fd());
  ASSERT_NE(pieces[2].file, nullptr);
  EXPECT_EQ(pieces[2].file->position, 10u);
  EXPECT_EQ(to_hex(pieces[3].bytes), "02");

  EXPECT_EQ(to_hex(test::flat(writer)), to_hex(hex("01 00 00 00 07 | 32 33 34 35 61 62 63 | 02")));

  // Compact form: length 7 + 1.
  Writer compact;
  compact.write_records(records, true);
  EXPECT_EQ(to_hex(test::flat(compact)), to_hex(hex("08 32 33 34 35 61 62 63")));
}

TEST(KafkaRecords, AppendKeepsFilePiecesInPlace) {
  auto file = temp_file("XYZ");
  Writer inner;
  inner.write_int8(7);
  inner.write_records(Records::files({FileRange{file, 0, 3}}), true);
  inner.write_int8(8);
  Writer outer;
  outer.write_int16(0x0102);
  outer.append(std::move(inner));
  EXPECT_EQ(outer.size(), 2u + 1u + 1u + 3u + 1u);
  EXPECT_EQ(to_hex(test::flat(outer)), to_hex(hex("01 02 07 04 58 59 5a 08")));
}

TEST(KafkaRecords, FlattenFailsWhenTheFileIsShorter) {
  auto file = temp_file("abc");
  Writer writer;
  writer.write_records(Records::files({FileRange{file, 1, 10}}), false);
  EXPECT_EQ(writer.flatten(), std::nullopt);
}

TEST(KafkaRecords, FetchResponseWithFileRecords) {
  // What a Fetch handler does: the partition's records are a FileRange from
  // storage::Partition::read; the frame goes out as pieces.
  const std::string log = "....BATCH-ONE|BATCH-TWO....";
  auto file = temp_file(log);
  messages::FetchResponse response;
  response.session_id = 0;
  auto& topic = response.responses.emplace_back();
  topic.topic = "orders";
  auto& partition = topic.partitions.emplace_back();
  partition.partition_index = 3;
  partition.high_watermark = 42;
  partition.last_stable_offset = 42;
  partition.log_start_offset = 0;
  partition.records = Records::files({FileRange{file, 4, 9}, FileRange{file, 14, 9}});

  for (std::int16_t version : {std::int16_t{4}, std::int16_t{11}, std::int16_t{12}}) {
    SCOPED_TRACE(version);
    Writer writer;
    ASSERT_TRUE(write_response_frame(writer, version, 77, response));
    const auto pieces = writer.pieces();
    // header and fields | range | range | (v12) the trailing tagged sections
    ASSERT_EQ(pieces.size(), version >= 12 ? 4u : 3u);
    EXPECT_NE(pieces[1].file, nullptr);
    EXPECT_NE(pieces[2].file, nullptr);

    const auto bytes = test::flat(writer);
    ASSERT_EQ(bytes.size(), writer.size());
    // The size prefix counts the file bytes.
    Reader frame(bytes);
    EXPECT_EQ(static_cast<std::size_t>(frame.read_int32()), bytes.size() - 4);
    EXPECT_EQ(frame.read_int32(), 77);
    if (version >= 12) frame.skip_tagged_fields();  // response header v1
    messages::FetchResponse decoded;
    ASSERT_TRUE(decoded.decode(frame, version));
    EXPECT_TRUE(frame.at_end());
    const auto& records = decoded.responses.at(0).partitions.at(0).records;
    ASSERT_TRUE(records.in_memory());
    EXPECT_EQ(to_hex(records.bytes()), to_hex(text_bytes("BATCH-ONEBATCH-TWO")));
  }
}

TEST(KafkaRecords, NullAndEmptyRecordsInFetchResponses) {
  messages::FetchResponse response;
  response.responses.emplace_back().partitions.emplace_back();  // records null
  const auto with_null = test::encoded(response, 4);
  response.responses[0].partitions[0].records = Records::owned({});
  const auto with_empty = test::encoded(response, 4);
  EXPECT_EQ(to_hex(std::span(with_null).last(4)), "ff ff ff ff");
  EXPECT_EQ(to_hex(std::span(with_empty).last(4)), "00 00 00 00");
}

}  // namespace
}  // namespace skein::kafka
