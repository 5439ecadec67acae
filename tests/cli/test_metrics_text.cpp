// This file contains the unit tests of what `tslab stats --url` and `tslab watch`
// read: the Prometheus exposition parser (comments, labels with escapes,
// +Inf/NaN, histograms, errors with their line), the URL reader, the model
// per allocator and epoch (generic over metric names), the changes between two
// scrapes, and the table and JSON made from them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cli/exposition.hpp"
#include "cli/http_get.hpp"
#include "cli/metrics_model.hpp"
#include "cli/metrics_view.hpp"

namespace bench {
namespace {

TEST(Exposition, CommentsHelpTypeAndSamples) {
  const Exposition e = parse_exposition(
      "# A free comment\n"
      "#\n"
      "\n"
      "# HELP tslab_live_bytes Bytes of live blocks, with a \\\\ and a \\n in it\n"
      "# TYPE tslab_live_bytes gauge\n"
      "tslab_live_bytes{allocator=\"1\"} 1024\n"
      "tslab_up 1 1700000000000\n"
      "  metric_without_labels   -3.5e2  \n"
      "tslab_empty_labels{} 7\r\n");
  ASSERT_EQ(e.samples.size(), 4u);
  EXPECT_EQ(e.samples[0].name, "tslab_live_bytes");
  ASSERT_NE(e.samples[0].label("allocator"), nullptr);
  EXPECT_EQ(*e.samples[0].label("allocator"), "1");
  EXPECT_EQ(e.samples[0].label("epoch"), nullptr);
  EXPECT_EQ(e.samples[0].value, 1024);
  EXPECT_FALSE(e.samples[0].has_timestamp);
  EXPECT_TRUE(e.samples[1].has_timestamp);
  EXPECT_EQ(e.samples[1].timestamp_ms, 1700000000000LL);
  EXPECT_EQ(e.samples[2].value, -350);
  EXPECT_TRUE(e.samples[3].labels.empty());
  EXPECT_EQ(e.samples[3].value, 7);
  ASSERT_EQ(e.families.count("tslab_live_bytes"), 1u);
  EXPECT_EQ(e.families.at("tslab_live_bytes").type, "gauge");
  EXPECT_EQ(e.families.at("tslab_live_bytes").help, "Bytes of live blocks, with a \\ and a \n in it");
}

TEST(Exposition, LabelValuesWithEscapes) {
  const Exposition e = parse_exposition(
      "tslab_epoch_info{allocator=\"2\",epoch=\"0\",label=\"a\\\"b\\\\c\\nd, e}=f\",state=\"active\"} 1\n"
      "x{ a = \"1\" , b=\"caf\xC3\xA9\", } 2\n");
  ASSERT_EQ(e.samples.size(), 2u);
  EXPECT_EQ(*e.samples[0].label("label"), "a\"b\\c\nd, e}=f");
  EXPECT_EQ(*e.samples[0].label("state"), "active");
  EXPECT_EQ(*e.samples[1].label("a"), "1");
  EXPECT_EQ(*e.samples[1].label("b"), "caf\xC3\xA9");
}

TEST(Exposition, SpecialValues) {
  const Exposition e = parse_exposition("a +Inf\nb -Inf\nc NaN\nd 1e-3\ne 0\nf 18446744073709551615\n");
  ASSERT_EQ(e.samples.size(), 6u);
  EXPECT_TRUE(std::isinf(e.samples[0].value) && e.samples[0].value > 0);
  EXPECT_TRUE(std::isinf(e.samples[1].value) && e.samples[1].value < 0);
  EXPECT_TRUE(std::isnan(e.samples[2].value));
  EXPECT_DOUBLE_EQ(e.samples[3].value, 0.001);
  EXPECT_EQ(e.samples[4].value, 0);
  EXPECT_DOUBLE_EQ(e.samples[5].value, 18446744073709551615.0);
}

TEST(Exposition, Histograms) {
  const Exposition e = parse_exposition(
      "# HELP tslab_epoch_close_seconds Close latency\n"
      "# TYPE tslab_epoch_close_seconds histogram\n"
      "tslab_epoch_close_seconds_bucket{allocator=\"1\",le=\"0.001\"} 3\n"
      "tslab_epoch_close_seconds_bucket{allocator=\"1\",le=\"0.01\"} 5\n"
      "tslab_epoch_close_seconds_bucket{allocator=\"1\",le=\"+Inf\"} 6\n"
      "tslab_epoch_close_seconds_sum{allocator=\"1\"} 0.0421\n"
      "tslab_epoch_close_seconds_count{allocator=\"1\"} 6\n");
  EXPECT_EQ(e.families.at("tslab_epoch_close_seconds").type, "histogram");
  ASSERT_EQ(e.samples.size(), 5u);
  EXPECT_EQ(*e.samples[2].label("le"), "+Inf");
  EXPECT_EQ(e.samples[2].value, 6);
  const Scrape s = build_scrape(e, 1);
  ASSERT_EQ(s.allocators.size(), 1u);
  const Fields& f = s.allocators[0].fields;
  ASSERT_NE(find_field(f, "epoch_close_seconds_bucket{le=\"+Inf\"}"), nullptr);
  EXPECT_EQ(*find_field(f, "epoch_close_seconds_bucket{le=\"+Inf\"}"), 6);
  EXPECT_EQ(*find_field(f, "epoch_close_seconds_count"), 6);
  EXPECT_DOUBLE_EQ(*find_field(f, "epoch_close_seconds_sum"), 0.0421);
}

void expect_error(const std::string& text, const std::string& message) {
  try {
    parse_exposition(text);
    ADD_FAILURE() << "no error for: " << text;
  } catch (const ExpositionError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(Exposition, ErrorsNameTheLine) {
  expect_error("ok 1\nbad{a=\"1\" 2\n", "line 2: expected ',' or '}'");
  expect_error("x{a=\"unterminated} 1\n", "line 1: unterminated label value");
  expect_error("x{a=\"\\t\"} 1\n", "unknown escape");
  expect_error("x 12abc\n", "bad sample value '12abc'");
  expect_error("x\n", "expected a blank before the value");
  expect_error("x{a=\"1\",a=\"2\"} 1\n", "label a given twice");
  // A sample with more labels than any exposition needs is refused, at once.
  std::string many = "x{";
  for (int i = 0; i < 65; ++i) many += (i ? ",l" : "l") + std::to_string(i) + "=\"v\"";
  expect_error(many + "} 1\n", "more than 64 labels in one sample");
  std::string enough = "x{";
  for (int i = 0; i < 64; ++i) enough += (i ? ",l" : "l") + std::to_string(i) + "=\"v\"";
  EXPECT_EQ(parse_exposition(enough + "} 1\n").samples.at(0).labels.size(), 64u);
  expect_error("# TYPE x thing\n", "unknown metric type 'thing'");
  expect_error("1x 1\n", "expected a metric name");
  expect_error("x 1 2 3\n", "unexpected text after the timestamp");
  expect_error("x{1a=\"\"} 1\n", "expected a label name");
}

TEST(HttpUrl, ReadsHostPortAndPath) {
  HttpUrl u;
  std::string error;
  ASSERT_TRUE(parse_http_url("http://127.0.0.1:9464/metrics", &u, &error)) << error;
  EXPECT_EQ(u.port, 9464);
  EXPECT_EQ(u.path, "/metrics");
  EXPECT_EQ(u.address, 0x7f000001u);
  ASSERT_TRUE(parse_http_url("http://localhost:80", &u, &error));
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(to_string(u), "http://localhost:80/");
  EXPECT_FALSE(parse_http_url("https://127.0.0.1:1/metrics", &u, &error));
  EXPECT_NE(error.find("not an http:// URL"), std::string::npos);
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:0/metrics", &u, &error));
  EXPECT_NE(error.find("bad port"), std::string::npos);
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:65536/", &u, &error));
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:x/", &u, &error));
  EXPECT_FALSE(parse_http_url("http://example.com:80/", &u, &error));
  EXPECT_NE(error.find("bad host"), std::string::npos);
  EXPECT_FALSE(parse_http_url("http://127.0.0.1:80/a b", &u, &error));
}

TEST(HttpGet, ARefusedConnectionIsAFetchError) {
  HttpUrl u;
  std::string error;
  // Port 1 on the loopback: nothing listens there on a test machine.
  ASSERT_TRUE(parse_http_url("http://127.0.0.1:1/metrics", &u, &error));
  try {
    http_get(u, 2.0);
    ADD_FAILURE() << "port 1 answered";
  } catch (const FetchError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read http://127.0.0.1:1/metrics"), std::string::npos)
        << e.what();
  }
}

// Two scrapes of one allocator, one second apart, as the library renders them.
std::string scrape_text(double live, double closes, double epoch_closes, const char* name) {
  return std::string("# TYPE tslab_allocator_info gauge\n") + "tslab_allocator_info{allocator=\"7\",name=\"" +
         name + "\"} 1\n" + "tslab_live_bytes{allocator=\"7\"} " + std::to_string(live) + "\n" +
         "tslab_epoch_close_calls_total{allocator=\"7\"} " + std::to_string(closes) + "\n" +
         "tslab_resident_bytes{allocator=\"7\"} 4194304\n" +
         "tslab_class_live_bytes{allocator=\"7\",class=\"16\"} 99\n" +
         "tslab_epoch_live_bytes{allocator=\"7\",epoch=\"0\"} " + std::to_string(live) + "\n" +
         "tslab_epoch_closes_total{allocator=\"7\",epoch=\"0\"} " + std::to_string(epoch_closes) + "\n" +
         "tslab_epoch_era{allocator=\"7\",epoch=\"0\"} 3\n" +
         "tslab_epoch_live_bytes{allocator=\"7\",epoch=\"1\"} 0\n" +
         "tslab_epoch_info{allocator=\"7\",epoch=\"0\",label=\"batch\",state=\"active\"} 1\n" +
         "tslab_epoch_info{allocator=\"7\",epoch=\"1\",label=\"\",state=\"closing\"} 1\n" +
         "tslab_build_info{version=\"0.1.0\"} 1\n";
}

TEST(MetricsModel, PerAllocatorAndEpoch) {
  const Scrape s = build_scrape(parse_exposition(scrape_text(2048, 10, 4, "requests")), 100);
  ASSERT_EQ(s.allocators.size(), 1u);
  const AllocatorView& a = s.allocators[0];
  EXPECT_EQ(a.uid, "7");
  EXPECT_EQ(a.name, "requests");
  EXPECT_EQ(*find_field(a.fields, "live_bytes"), 2048);
  EXPECT_EQ(find_field(a.fields, "class_live_bytes"), nullptr);  // per-class series are left out
  ASSERT_EQ(a.epochs.size(), 2u);
  EXPECT_EQ(a.epochs.at(0).label, "batch");
  EXPECT_EQ(a.epochs.at(0).state, "active");
  EXPECT_EQ(*find_field(a.epochs.at(0).fields, "closes_total"), 4);
  EXPECT_EQ(*find_field(a.epochs.at(0).fields, "era"), 3);
  EXPECT_EQ(a.epochs.at(1).state, "closing");
  EXPECT_EQ(*find_field(s.process, "build_info{version=\"0.1.0\"}"), 1);
}

TEST(MetricsModel, AllocatorsInUidOrder) {
  const Scrape s = build_scrape(
      parse_exposition("tslab_live_bytes{allocator=\"10\"} 1\ntslab_live_bytes{allocator=\"9\"} 2\n"), 0);
  ASSERT_EQ(s.allocators.size(), 2u);
  EXPECT_EQ(s.allocators[0].uid, "9");
  EXPECT_EQ(s.allocators[1].uid, "10");
  EXPECT_EQ(s.allocators[0].name, "");
}

TEST(MetricsModel, RatesBetweenTwoScrapes) {
  const Scrape before = build_scrape(parse_exposition(scrape_text(2048, 10, 4, "r")), 100);
  const Scrape after = build_scrape(parse_exposition(scrape_text(1024, 30, 9, "r")), 102);
  const Change live = change_of(&before, after, "7", -1, "live_bytes");
  ASSERT_TRUE(live.known);
  EXPECT_EQ(live.delta, -1024);
  EXPECT_EQ(live.per_second, -512);
  const Change closes = change_of(&before, after, "7", -1, "epoch_close_calls_total");
  ASSERT_TRUE(closes.known);
  EXPECT_EQ(closes.per_second, 10);
  const Change epoch_closes = change_of(&before, after, "7", 0, "closes_total");
  ASSERT_TRUE(epoch_closes.known);
  EXPECT_EQ(epoch_closes.delta, 5);
  EXPECT_EQ(epoch_closes.per_second, 2.5);
  // Not known: no previous scrape, a field or epoch missing, another allocator,
  // time not moving, a counter going back (a restarted process).
  EXPECT_FALSE(change_of(nullptr, after, "7", -1, "live_bytes").known);
  EXPECT_FALSE(change_of(&before, after, "7", -1, "no_such_field").known);
  EXPECT_FALSE(change_of(&before, after, "7", 5, "closes_total").known);
  EXPECT_FALSE(change_of(&before, after, "8", -1, "live_bytes").known);
  EXPECT_FALSE(change_of(&after, after, "7", -1, "live_bytes").known);
  const Scrape restarted = build_scrape(parse_exposition(scrape_text(0, 1, 0, "r")), 103);
  EXPECT_FALSE(change_of(&after, restarted, "7", -1, "epoch_close_calls_total").known);
  EXPECT_TRUE(change_of(&after, restarted, "7", -1, "live_bytes").known);  // a gauge may fall
}

TEST(MetricsView, TableWithRatesAndIdleSlots) {
  const Scrape before = build_scrape(parse_exposition(scrape_text(2048, 10, 4, "requests")), 100);
  const Scrape after = build_scrape(parse_exposition(scrape_text(1024, 30, 9, "requests")), 102);
  const std::vector<std::string> lines = render_table(after, &before);
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  EXPECT_EQ(lines[0].rfind("allocator 7 \"requests\": live 1.0 KiB (-512 B/s), resident 4.0 MiB", 0), 0u)
      << all;
  EXPECT_NE(lines[0].find("closes 30 (10.0/s)"), std::string::npos) << all;
  EXPECT_NE(lines[1].find("epoch state"), std::string::npos) << all;
  EXPECT_NE(lines[1].find("closes/s"), std::string::npos) << all;
  EXPECT_NE(all.find("active"), std::string::npos) << all;
  EXPECT_NE(all.find("batch"), std::string::npos) << all;
  EXPECT_NE(all.find("2.5/s"), std::string::npos) << all;
  EXPECT_NE(all.find("(1 idle epoch slots not shown)"), std::string::npos) << all;
  // Without a previous scrape: no rates.
  const std::vector<std::string> once = render_table(after, nullptr);
  EXPECT_EQ(once[0].find("/s"), std::string::npos) << once[0];
}

TEST(MetricsView, SlotsThatNeverHeldAnythingAreIdle) {
  // The malloc override's 64 slots are all active, and most never used.
  const Scrape s = build_scrape(
      parse_exposition("tslab_allocator_info{allocator=\"1\",name=\"malloc\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"0\"} 12\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"0\",label=\"\",state=\"active\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"1\"} 0\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"1\",label=\"\",state=\"active\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"2\"} 0\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"2\",label=\"scope\",state=\"active\"} 1\n"),
      0);
  const std::vector<std::string> lines = render_table(s, nullptr);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].rfind("allocator 1 \"malloc\": live -", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2].rfind("      0 active", 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind("      2 active", 0), 0u) << lines[3];
  EXPECT_EQ(lines[4], "  (1 idle epoch slots not shown)");
}

TEST(MetricsView, TheCurrentEpochAlwaysHasAMarkedRow) {
  // Just after an advance the current slot holds nothing and has no label yet:
  // it is still shown, marked, while another slot that never held anything is idle.
  const Scrape s = build_scrape(
      parse_exposition("tslab_current_epoch{allocator=\"1\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"0\"} 12\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"0\",label=\"batch\",state=\"closing\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"1\"} 0\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"1\",label=\"\",state=\"active\"} 1\n"
                       "tslab_epoch_live_blocks{allocator=\"1\",epoch=\"2\"} 0\n"
                       "tslab_epoch_info{allocator=\"1\",epoch=\"2\",label=\"\",state=\"active\"} 1\n"),
      0);
  const std::vector<std::string> lines = render_table(s, nullptr);
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  ASSERT_EQ(lines.size(), 5u) << all;
  EXPECT_EQ(lines[2].rfind("      0 closing", 0), 0u) << all;
  EXPECT_EQ(lines[3].rfind("     *1 active", 0), 0u) << all;
  EXPECT_EQ(lines[4], "  (* current epoch; 1 idle epoch slots not shown)") << all;
}

TEST(MetricsView, DrainFieldsAppearWhenReported) {
  // The drain report's fields: per allocator a counter and a ratio, per epoch
  // slot a counter, whether the last close drained and the bytes it found pinned.
  const auto text = [](int drained, int slot_drained) {
    return scrape_text(0, 1, 1, "d") + "tslab_closes_drained_total{allocator=\"7\"} " +
           std::to_string(drained) + "\n" + "tslab_close_drain_rate{allocator=\"7\"} 0.25\n" +
           "tslab_epoch_closes_drained_total{allocator=\"7\",epoch=\"0\"} " + std::to_string(slot_drained) +
           "\n" + "tslab_epoch_last_close_drained{allocator=\"7\",epoch=\"0\"} 1\n" +
           "tslab_epoch_last_close_pinned_bytes{allocator=\"7\",epoch=\"0\"} 131072\n" +
           "tslab_epoch_last_close_pinned_slabs{allocator=\"7\",epoch=\"0\"} 2\n";
  };
  const Scrape before = build_scrape(parse_exposition(text(2, 4)), 0);
  const Scrape after = build_scrape(parse_exposition(text(6, 8)), 1);
  const std::vector<std::string> lines = render_table(after, &before);
  EXPECT_NE(lines[0].find(", closes_drained_total 6 (4.0/s)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(", close_drain_rate 0.25"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("closes_drained/s"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("close drained"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("close pinned_bytes"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].find("pinned_slabs"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("4.0/s"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("128.0 KiB"), std::string::npos) << lines[2];
  // Without a drain field, no drain column.
  const Scrape plain = build_scrape(parse_exposition(scrape_text(0, 1, 1, "d")), 0);
  EXPECT_EQ(render_table(plain, nullptr)[1].find("drain"), std::string::npos);
}

TEST(MetricsView, JsonKeepsEveryFieldAndNullsForNonFinite) {
  const Scrape s = build_scrape(parse_exposition("tslab_allocator_info{allocator=\"1\",name=\"a\\\"b\"} 1\n"
                                                 "tslab_x{allocator=\"1\"} NaN\n"
                                                 "tslab_epoch_live_bytes{allocator=\"1\",epoch=\"2\"} 5\n"),
                                0);
  const std::string json = render_scrape_json(s);
  EXPECT_NE(json.find("\"allocator\":\"1\",\"name\":\"a\\\"b\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"x\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("{\"epoch\":2,\"label\":\"\",\"state\":\"\",\"fields\":{\"live_bytes\":5}}"),
            std::string::npos)
      << json;
}

TEST(MetricsView, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(3.5 * 1024 * 1024 * 1024), "3.5 GiB");
}

}  // namespace
}  // namespace bench
