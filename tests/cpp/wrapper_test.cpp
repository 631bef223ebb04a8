// The C++ wrapper against a running emulator: wrapper_test BASE_URL
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <type_traits>

#include "ustb_openai.hpp"

static int failures = 0;
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static_assert(!std::is_copy_constructible<ustb::Client>::value, "Client is move-only");
static_assert(std::is_nothrow_move_constructible<ustb::Client>::value, "Client moves");
static_assert(!std::is_copy_constructible<ustb::Stream>::value, "Stream is move-only");
static_assert(std::is_nothrow_move_constructible<ustb::Stream>::value, "Stream moves");

static std::string req(const std::string &prompt) {
    return R"({"messages":[{"role":"user","content":")" + prompt + R"("}],"stream_options":{"include_usage":true}})";
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const std::string url = argv[1];
    ustb::Client client(R"({"base_url":")" + url + R"(","vjuid_login":"cpp-test"})");

    // Range-for over a stream; a moved-from handle is inert.
    std::string content, reasoning, finish;
    int chunks = 0;
    ustb::Stream first = client.stream(req("请介绍你自己。"));
    ustb::Stream stream = std::move(first);
    for (const std::string &chunk : stream) {
        ustb::Delta d = ustb::delta(chunk);
        content += d.content.value_or("");
        reasoning += d.reasoning_content.value_or("");
        if (d.finish_reason) finish = *d.finish_reason;
        chunks++;
    }
    CHECK(content == "你好！我是北科大 AI 助手。");
    CHECK(reasoning == "好的，用户问：请介绍你自己。。");
    CHECK(finish == "stop");
    CHECK(chunks >= 4);
    CHECK(!stream.next().has_value());

    // Non-stream.
    std::string completion = client.create(req("hi"));
    CHECK(ustb::delta(completion).content.value_or("").find("你说：「hi」") != std::string::npos);

    // Exceptions carry the detail.
    ustb::Client guest(R"({"base_url":")" + url + R"("})");
    try {
        guest.create(req("hi"));
        CHECK(false);
    } catch (const ustb::Error &e) {
        CHECK(e.status() == USTB_AUTH_ERROR);
        CHECK(e.api_code() == 10042);
        CHECK(e.http_status() == 200);
        CHECK(e.detail().find("\"auth_error\"") != std::string::npos);
        CHECK(std::string(e.status_name()) == "USTB_AUTH_ERROR");
    }
    try {
        ustb::Client bad(R"({"nope":1})");
        CHECK(false);
    } catch (const ustb::Error &e) {
        CHECK(e.status() == USTB_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("nope") != std::string::npos);
    }
    try {
        for (const std::string &chunk : client.stream(req("@emu:truncate"))) (void)chunk;
        CHECK(false);
    } catch (const ustb::Error &e) {
        CHECK(e.status() == USTB_TRUNCATED);
    }

    // Cancel from another thread unblocks a read on a silent server.
    ustb::Stream silent = client.stream(req("@emu:silent"));
    auto start = std::chrono::steady_clock::now();
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        silent.cancel();
    });
    try {
        for (const std::string &chunk : silent) (void)chunk;
        CHECK(false);
    } catch (const ustb::Error &e) {
        CHECK(e.status() == USTB_CANCELLED);
    }
    canceller.join();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("wrapper_test: all checks passed\n");
    return 0;
}
