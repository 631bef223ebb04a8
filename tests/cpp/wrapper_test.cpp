// The C++ wrapper against a running emulator: wrapper_test BASE_URL
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

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
static_assert(!std::is_copy_constructible<ustb::Canceller>::value, "Canceller is move-only");
static_assert(!std::is_copy_constructible<ustb::Login>::value, "Login is move-only");
static_assert(std::is_nothrow_move_constructible<ustb::Login>::value, "Login moves");
static_assert(std::is_nothrow_move_constructible<ustb::Canceller>::value, "Canceller moves");

static std::string req(const std::string &prompt) {
    return R"({"messages":[{"role":"user","content":")" + prompt + R"("}],"stream_options":{"include_usage":true}})";
}

static bool has(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

// Runs f, which must throw ustb::Error; returns it (status USTB_OK when nothing was thrown).
template <typename F> static ustb::Error thrown(F f) {
    try {
        f();
    } catch (const ustb::Error &e) {
        return e;
    }
    return ustb::Error(USTB_OK, "nothing thrown", "{}", 0, 0);
}

// The string value after `"key":"` at or after `from` ("" when absent).
static std::string string_after(const std::string &json, const std::string &key, std::size_t from = 0) {
    std::string tag = "\"" + key + "\":\"";
    std::size_t at = json.find(tag, from);
    if (at == std::string::npos) return "";
    at += tag.size();
    return json.substr(at, json.find('"', at) - at);
}

// A server that takes connections (the kernel's backlog) and never answers. Returns the URL;
// the socket stays open until exit.
static std::string silent_server() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), len) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        std::perror("silent server");
        std::exit(1);
    }
    return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

static void platform_calls(const ustb::Client &client, const ustb::Client &guest) {
    CHECK(has(client.web_info(), "\"name\":\"北科大AI助手\""));
    std::string apps = client.apps();
    CHECK(has(apps, "\"id\":3") && has(apps, "\"id\":5"));
    CHECK(has(client.app_detail(), "\"name\":\"DeepSeek\""));
    CHECK(has(client.app_detail(5), "通义千问"));
    ustb::Error unknown = thrown([&] { client.app_detail(99); });
    CHECK(unknown.status() == USTB_API_ERROR && unknown.api_code() == 1);
    CHECK(thrown([&] { client.app_detail(-1); }).status() == USTB_INVALID_ARGUMENT);
    CHECK(has(client.page_settings(), "\"model_select\""));

    std::string models = client.models();
    CHECK(has(models, "\"object\":\"list\"") && has(models, "\"id\":\"DeepSeek\"") && has(models, "\"owned_by\":\"ustb\""));
    CHECK(has(client.models(5), "\"id\":\"qwen-max\""));

    std::string id = client.new_session_id();
    CHECK(id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos);

    // Every chat starts a session in the emulator: the newest one is this chat's.
    client.create(R"({"messages":[{"role":"user","content":"会话 C++"}]})");
    std::string sessions = client.sessions(1, 5);
    CHECK(string_after(sessions, "last_content") == "会话 C++");
    std::string sid = string_after(sessions, "sess_id");
    CHECK(sid.size() == 32);
    std::string history = client.chat_history(sid);
    CHECK(has(history, "\"role\":\"user\"") && has(history, "你说：「会话 C++」"));
    CHECK(client.session_delete(sid) == "[]");
    CHECK(client.chat_history(sid) == "[]");
    CHECK(thrown([&] { client.sessions(0, 10); }).status() == USTB_INVALID_ARGUMENT);
    CHECK(thrown([&] { client.session_delete("no spaces"); }).status() == USTB_INVALID_ARGUMENT);

    // Login states; logged out, the session calls are auth errors.
    ustb::LoginState in = client.login_state();
    CHECK(in.state == ustb::LoginState::logged_in && in.http_status == 200);
    ustb::LoginState out = guest.login_state();
    CHECK(out.state == ustb::LoginState::logged_out && out.http_status == 302 && has(out.json, "\"detail\":"));
    ustb::Error auth = thrown([&] { guest.sessions(); });
    CHECK(auth.status() == USTB_AUTH_ERROR && auth.api_code() == 10042);
    ustb::Client nobody(R"({"base_url":"http://127.0.0.1:1","max_retries":0})");
    ustb::LoginState gone = nobody.login_state();
    CHECK(gone.state == ustb::LoginState::unreachable && gone.http_status == 0 && has(gone.json, "\"error\":\"connect_error\""));
}

// A Canceller stops a call on a silent server from another thread, and stays cancelled.
static void cancel_platform_call() {
    ustb::Client slow(R"({"base_url":")" + silent_server() + R"(","idle_timeout_ms":60000})");
    ustb::Canceller cancel;
    auto start = std::chrono::steady_clock::now();
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        cancel.cancel();
    });
    CHECK(thrown([&] { slow.models(0, &cancel); }).status() == USTB_CANCELLED);
    t.join();
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(150) && took < std::chrono::seconds(5));
    CHECK(thrown([&] { slow.web_info(&cancel); }).status() == USTB_CANCELLED);
    CHECK(thrown([&] { slow.login_state(&cancel); }).status() == USTB_CANCELLED);
    ustb::Canceller moved = std::move(cancel); // the cancelled state moves with it
    CHECK(thrown([&] { slow.apps(&moved); }).status() == USTB_CANCELLED);
}

#define TOOL_LIST \
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather of a city",)" \
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])"
// Without deep thinking: the emulator's reasoning would echo the long tool instruction.
static const char *TOOLS = R"("deep_thinking":false,)" TOOL_LIST;
static const char *ASK_WEATHER = R"({"role":"user","content":"北京天气？@emu:tool=get_weather:{\"city\":\"北京\"}"})";

// Tool calls travel in the JSON as streamed deltas (a whole reply and the loop: tool_loop).
static void tool_calls(const ustb::Client &client) {
    std::string request = std::string(R"({"messages":[)") + ASK_WEATHER + "]," + TOOLS + "}";
    std::string finish, streamed;
    for (const std::string &chunk : client.stream(request)) {
        if (has(chunk, "\"tool_calls\"")) streamed += chunk;
        if (auto f = ustb::delta(chunk).finish_reason) finish = *f;
    }
    CHECK(finish == "tool_calls");
    CHECK(has(streamed, R"("name":"get_weather","arguments":"")") && has(streamed, R"({"arguments":"{\"city\":\"北京\"}"})"));
}

// The two-step loop, with the model writing its call in `form` (the emulator's
// @emu:tool-form=FORM, issue 17): the call comes back the same from every markup. A call in
// the reasoning needs deep thinking on (without it the server sends no reasoning).
static void tool_loop(const ustb::Client &client, const std::string &form) {
    int before = failures;
    const std::string tools = form == "reasoning" ? TOOL_LIST : TOOLS;
    std::string ask = R"({"role":"user","content":"北京天气？@emu:tool=get_weather:{\"city\":\"北京\"} @emu:tool-form=)" + form + R"("})";
    std::string request = R"({"messages":[)" + ask + "]," + tools + "}";
    std::string completion = client.create(request);
    ustb::Delta step1 = ustb::delta(completion);
    CHECK(step1.finish_reason.value_or("") == "tool_calls");
    CHECK(step1.content && step1.content->find_first_of("<`{") == std::string::npos && !has(*step1.content, "｜"));
    std::string id = string_after(completion, "id", completion.find("\"tool_calls\""));
    CHECK(id.rfind("call_", 0) == 0);
    CHECK(has(completion, R"("function":{"arguments":"{\"city\":\"北京\"}","name":"get_weather"})") ||
          has(completion, R"("function":{"name":"get_weather","arguments":"{\"city\":\"北京\"}"})"));

    std::string second = R"({"messages":[)" + ask +
                         R"(,{"role":"assistant","content":null,"tool_calls":[{"id":")" + id +
                         R"(","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"北京\"}"}}]})" +
                         R"(,{"role":"tool","tool_call_id":")" + id + R"(","content":"晴，25°C"}],)" + tools + "}";
    ustb::Delta answer = ustb::delta(client.create(second));
    CHECK(answer.content.value_or("") == "根据工具 get_weather 的结果：晴，25°C");
    CHECK(answer.finish_reason.value_or("") == "stop");
    if (failures != before) std::fprintf(stderr, "  (the checks above: tool-form %s)\n", form.c_str());
}

// set_log_callback routes lines at their levels; a handler's exceptions are dropped; the
// handler may not set another; an empty function removes it.
static void logging(const ustb::Client &client) {
    std::mutex mu;
    std::vector<std::pair<ustb_log_level, std::string>> lines;
    auto seen = [&](ustb_log_level level, const std::string &start) {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto &l : lines)
            if (l.first == level && l.second.rfind(start, 0) == 0) return true;
        return false;
    };
    ustb::set_log_callback([&](ustb_log_level level, std::string_view line) {
        std::lock_guard<std::mutex> lock(mu);
        lines.emplace_back(level, std::string(line));
    }, USTB_LOG_DEBUG);
    client.create(req("日志"));
    CHECK(seen(USTB_LOG_DEBUG, "POST /site/ai/compose_chat: sending attempt 1 of "));
    CHECK(seen(USTB_LOG_INFO, "chat stream ended normally: first byte "));

    // At WARN a good chat logs nothing; a refused one warns of its retry and ends in an error.
    ustb::set_log_callback([&](ustb_log_level level, std::string_view line) {
        std::lock_guard<std::mutex> lock(mu);
        lines.emplace_back(level, std::string(line));
    }, USTB_LOG_WARN);
    lines.clear();
    client.create(req("hi"));
    CHECK(lines.empty());
    ustb::Client refused(R"({"base_url":"http://127.0.0.1:1","vjuid_login":"x","max_retries":1})");
    CHECK(thrown([&] { refused.create(req("hi")); }).status() == USTB_CONNECT_ERROR);
    CHECK(seen(USTB_LOG_WARN, "POST /site/ai/compose_chat: attempt 1 of 2 failed (connect_error"));
    CHECK(seen(USTB_LOG_ERROR, "chat stream failed (connect_error)"));

    std::atomic<int> calls{0};
    std::atomic<int> inner{-1};
    ustb::set_log_callback([&](ustb_log_level, std::string_view) {
        if (calls++ == 0) inner = thrown([] { ustb::set_log_callback(nullptr); }).status();
        throw std::runtime_error("dropped");
    });
    client.create(req("hi"));
    CHECK(calls > 0 && inner == USTB_INVALID_ARGUMENT);
    CHECK(thrown([] { ustb::set_log_callback([](ustb_log_level, std::string_view) {}, 7); }).status() == USTB_INVALID_ARGUMENT);

    ustb::set_log_callback(nullptr);
    int before = calls;
    client.create(req("hi"));
    CHECK(calls == before);
}

// ---- Login (ustb::Login) against an emulator started with --sso-long-poll-ms 300 ----

// POSTs the emulator's QR script (for codes made from now on); true on its 204.
static bool set_qr_script(const std::string &url, const std::string &script) {
    int port = std::atoi(url.c_str() + url.rfind(':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        if (fd >= 0) close(fd);
        return false;
    }
    std::string request = "POST /emulator/sso/qr-script HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(script.size()) +
                          "\r\nConnection: close\r\n\r\n" + script;
    bool sent = write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size());
    char reply[64] = {0};
    ssize_t n = sent ? read(fd, reply, sizeof reply - 1) : -1;
    close(fd);
    return n > 0 && std::string(reply).rfind("HTTP/1.1 204", 0) == 0;
}

static const char *DEFAULT_QR_SCRIPT = "scan@800,confirm@1600";

static ustb::Login new_login(const std::string &url) {
    return ustb::Login(R"({"base_url":")" + url + R"(","sso_base_url":")" + url + R"(","sis_base_url":")" + url +
                       R"(","max_retries":0,"idle_timeout_ms":20000})");
}

// Calls wait() until a final state (confirmed or expired); the states seen, without repeats.
static std::vector<ustb::QrState> wait_states(ustb::Login &login) {
    std::vector<ustb::QrState> seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        ustb::QrState st = login.wait(std::chrono::seconds(2));
        if (seen.empty() || seen.back() != st) seen.push_back(st);
        if (st == ustb::QrState::confirmed || st == ustb::QrState::expired) break;
    }
    return seen;
}

static bool is_png(const std::vector<std::uint8_t> &b) {
    return b.size() > 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G';
}

static bool chat_works(const ustb::Client &client) {
    return ustb::delta(client.create(req("hi"))).content.value_or("").find("你说：「hi」") != std::string::npos;
}

static void login_qr(const std::string &url) {
    using ustb::QrState;
    CHECK(set_qr_script(url, "scan@100,confirm@400"));
    ustb::Login login = new_login(url);
    login.qr_start();
    CHECK(is_png(login.qr_png()));
    std::string text = login.qr_text();
    CHECK(has(text, "█") && std::count(text.begin(), text.end(), '\n') >= 10);
    CHECK(login.qr_page_url().rfind(url + "/", 0) == 0);
    CHECK(thrown([&] { login.cookie(); }).status() == USTB_INVALID_ARGUMENT);
    std::vector<QrState> seen = wait_states(login);
    CHECK(seen.size() >= 2 && seen[seen.size() - 2] == QrState::scanned && seen.back() == QrState::confirmed);
    auto start = std::chrono::steady_clock::now();
    CHECK(login.wait(std::chrono::seconds(10)) == QrState::confirmed); // final: at once
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    std::string cookie = login.cookie();
    CHECK(!cookie.empty());
    ustb::Client client = login.client();
    CHECK(chat_works(client));
    CHECK(string_after(client.cookies(), "vjuid_login") == cookie);

    // install(): a client without a login gets one.
    ustb::Client guest(R"({"base_url":")" + url + R"(","max_retries":0})");
    CHECK(thrown([&] { guest.create(req("hi")); }).status() == USTB_AUTH_ERROR);
    login.install(guest);
    CHECK(chat_works(guest));

    // Expiry, then a renewed code that is confirmed.
    CHECK(set_qr_script(url, "expire@200;scan@100,confirm@300"));
    ustb::Login renew = new_login(url);
    renew.qr_start();
    std::vector<std::uint8_t> first = renew.qr_png();
    seen = wait_states(renew);
    CHECK(!seen.empty() && seen.back() == QrState::expired);
    CHECK(renew.wait(std::chrono::seconds(1)) == QrState::expired);
    renew.qr_start();
    CHECK(renew.qr_png() != first);
    seen = wait_states(renew);
    CHECK(seen.size() >= 2 && seen[seen.size() - 2] == QrState::scanned && seen.back() == QrState::confirmed);
    CHECK(chat_works(renew.client()));

    // An invalid QR session is an auth error.
    CHECK(set_qr_script(url, "invalid@100"));
    ustb::Login invalid = new_login(url);
    invalid.qr_start();
    ustb::Error e = thrown([&] {
        for (int i = 0; i < 20; i++) invalid.wait(std::chrono::seconds(2));
    });
    CHECK(e.status() == USTB_AUTH_ERROR);

    // A wait cancelled from another thread returns promptly.
    CHECK(set_qr_script(url, "scan@60000"));
    ustb::Login slow = new_login(url);
    slow.qr_start();
    ustb::Canceller cancel;
    std::atomic<std::chrono::steady_clock::rep> cancelled_at{0};
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancelled_at = std::chrono::steady_clock::now().time_since_epoch().count();
        cancel.cancel();
    });
    CHECK(thrown([&] { slow.wait(std::chrono::minutes(1), &cancel); }).status() == USTB_CANCELLED);
    auto returned = std::chrono::steady_clock::now().time_since_epoch().count();
    t.join();
    CHECK(cancelled_at != 0 &&
          std::chrono::steady_clock::duration(returned - cancelled_at) < std::chrono::milliseconds(500));
    CHECK(slow.wait(std::chrono::milliseconds(100)) == QrState::waiting); // waiting again is allowed

    CHECK(set_qr_script(url, DEFAULT_QR_SCRIPT));
}

static void login_sms(const std::string &url) {
    const std::string phone = "13900000001", phone2 = "13900000002", phone3 = "13900000003";
    std::vector<std::string> lines;
    std::mutex mu;
    ustb::set_log_callback([&](ustb_log_level, std::string_view line) {
        std::lock_guard<std::mutex> lock(mu);
        lines.emplace_back(line);
    }, USTB_LOG_DEBUG);
    std::vector<ustb::Error> errors;

    ustb::Login login = new_login(url);
    errors.push_back(thrown([&] { login.sms_send("1390000000"); })); // 10 digits
    CHECK(errors.back().status() == USTB_INVALID_ARGUMENT);
    login.sms_send(phone);
    errors.push_back(thrown([&] { login.sms_submit("999999"); }));
    CHECK(errors.back().status() == USTB_API_ERROR);
    CHECK(thrown([&] { login.cookie(); }).status() == USTB_INVALID_ARGUMENT);
    login.sms_submit(phone.substr(5));
    std::string cookie = login.cookie();
    CHECK(cookie.size() >= 8);
    CHECK(chat_works(login.client()));

    // A puzzle solved by hand (here by the library's solver); the same phone again at once: 201.
    ustb::Login manual = new_login(url);
    manual.sms_puzzle();
    ustb::PuzzleImages images = manual.puzzle_images();
    CHECK(is_png(images.background) && is_png(images.piece));
    std::uint32_t x = manual.solve_puzzle();
    CHECK(x > 0);
    manual.sms_send(phone2, static_cast<std::int32_t>(x));
    manual.sms_submit(phone2.substr(5));
    errors.push_back(thrown([&] { new_login(url).sms_send(phone2); }));
    CHECK(errors.back().status() == USTB_API_ERROR && errors.back().api_code() == 201);
    errors.push_back(thrown([&] { manual.client().create(req("@emu:truncate")); }));
    CHECK(errors.back().status() == USTB_TRUNCATED);

    ustb::Login wrong = new_login(url);
    wrong.sms_send(phone3);
    errors.push_back(thrown([&] { wrong.sms_submit("000000"); }));
    CHECK(errors.back().status() == USTB_API_ERROR);

    ustb::set_log_callback(nullptr);
    // Secrets: phone numbers and the cookie appear in no error and no log line.
    for (const ustb::Error &err : errors)
        for (const std::string &secret : {phone, phone2, phone3, cookie})
            CHECK(!has(err.what(), secret) && !has(err.detail(), secret));
    CHECK(!lines.empty());
    for (const std::string &line : lines)
        for (const std::string &secret : {phone, phone2, phone3, cookie}) CHECK(!has(line, secret));
}

// Bad arguments and calls out of order throw USTB_INVALID_ARGUMENT before any traffic (the
// hosts refuse connections, which would be USTB_CONNECT_ERROR); a moved-from Login too.
static void login_invalid(const std::string &) {
    const std::string nowhere = "http://127.0.0.1:1";
    ustb::Login login = new_login(nowhere);
    auto invalid = [&](auto f) { return thrown(f).status() == USTB_INVALID_ARGUMENT; };
    for (const char *phone : {"", "12345", "23900000000", "1390000000", "139000000001", "1390000000a"})
        CHECK(invalid([&] { login.sms_send(phone); }));
    CHECK(invalid([&] { login.sms_send(std::string("13900000000\0", 12)); }));
    CHECK(invalid([&] { login.sms_send("13900000000", 10); })); // no puzzle
    CHECK(invalid([&] { login.sms_submit("123456"); }));
    CHECK(invalid([&] { login.qr_png(); }));
    CHECK(invalid([&] { login.qr_text(); }));
    CHECK(invalid([&] { login.qr_page_url(); }));
    CHECK(invalid([&] { login.wait(std::chrono::seconds(1)); }));
    CHECK(invalid([&] { login.wait(std::chrono::milliseconds(-1)); }));
    CHECK(invalid([&] { login.puzzle_images(); }));
    CHECK(invalid([&] { login.solve_puzzle(); }));
    CHECK(invalid([&] { login.cookie(); }));
    CHECK(invalid([&] { login.client(); }));
    ustb::Client client(R"({"base_url":")" + nowhere + R"("})");
    CHECK(invalid([&] { login.install(client); }));
    CHECK(invalid([] { ustb::Login bad(R"({"ca_file":"/nonexistent/ca.pem"})"); }));

    ustb::Login moved = std::move(login);
    CHECK(login.get() == nullptr);
    CHECK(invalid([&] { login.qr_start(); }));
    CHECK(invalid([&] { login.wait(std::chrono::seconds(1)); }));
    CHECK(invalid([&] { login.sms_send("13900000000"); }));
    CHECK(invalid([&] { login.cookie(); }));
    CHECK(invalid([&] { login.install(client); }));
    CHECK(invalid([&] { moved.qr_png(); })); // the moved-to one is the same login
}

// wrapper_test URL SSO_URL: SSO_URL is an emulator started with --sso-long-poll-ms 300.
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const std::string url = argv[1], sso_url = argv[2];
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

    platform_calls(client, guest);
    cancel_platform_call();
    tool_calls(client);
    for (const char *form : {"ours", "invoke", "special", "reasoning"}) tool_loop(client, form);
    logging(client);
    // An unexpected exception fails its section and the others still run.
    for (auto section : {login_invalid, login_qr, login_sms}) {
        try {
            section(sso_url);
        } catch (const ustb::Error &e) {
            std::fprintf(stderr, "login check threw %s: %s\n", e.status_name(), e.what());
            failures++;
        }
    }

    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("wrapper_test: all checks passed\n");
    return 0;
}
