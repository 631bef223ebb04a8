// ustb_openai.hpp: header-only C++17 wrapper over ustb_openai.h.
//
// - ustb::Client and ustb::Stream are move-only RAII handles.
// - Failures throw ustb::Error, which carries the status, the server's code and the JSON detail.
// - A Stream is a range: `for (const std::string& chunk : stream)` yields chunk JSON strings;
//   ustb::delta(chunk) reads their texts. stream.cancel() may be called from another thread.
//   Tool calls (requests' `tools`, replies' `tool_calls`) travel in the JSON strings as they are.
// - The platform calls (client.web_info(), .models(), .login_state(), …) return JSON strings and
//   take an optional ustb::Canceller, whose cancel() from another thread stops the call.
// - ustb::set_log_callback(fn, min_level) routes the library's log lines to a std::function.
// - ustb::Login logs in through the university SSO (WeChat QR code or SMS code) and gives the
//   cookie and a ready Client. An Error with USTB_AUTH_ERROR means the login is missing or has
//   expired: log in again with a Login and login.install(client) (or login.client()).
// Thread-safety is the C API's: a Client may be shared by threads; a Stream is read by one
// thread at a time, and cancel() is safe from any thread until the Stream is destroyed.
#ifndef USTB_OPENAI_HPP
#define USTB_OPENAI_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ustb_openai.h"

namespace ustb {

/// A failed call: what(), status(), api_code() (server's `e`, 0 if none), http_status()
/// (0 if none) and detail() (JSON: type, message, e, m, http_status). USTB_AUTH_ERROR: the
/// login is missing or has expired (e=10042), or an SSO QR session became invalid: log in
/// again (ustb::Login).
class Error : public std::runtime_error {
public:
    Error(ustb_status status, std::string message, std::string detail, std::int64_t api_code, int http_status)
        : std::runtime_error(std::move(message)), status_(status), detail_(std::move(detail)),
          api_code_(api_code), http_status_(http_status) {}

    ustb_status status() const noexcept { return status_; }
    const char *status_name() const noexcept { return ustb_status_name(static_cast<int>(status_)); }
    const std::string &detail() const noexcept { return detail_; }
    std::int64_t api_code() const noexcept { return api_code_; }
    int http_status() const noexcept { return http_status_; }

private:
    ustb_status status_;
    std::string detail_;
    std::int64_t api_code_;
    int http_status_;
};

namespace detail {

// Turns a failed status into an exception, taking ownership of (and freeing) the error.
[[noreturn]] inline void raise(ustb_status status, ustb_error *err) {
    Error e(status, ustb_error_message(err), ustb_error_detail(err), ustb_error_api_code(err),
            ustb_error_http_status(err));
    ustb_error_free(err);
    throw e;
}

// Takes ownership of a library string.
inline std::string take(char *s) {
    std::string out = s ? std::string(s) : std::string();
    ustb_string_free(s);
    return out;
}

inline std::optional<std::string> take_optional(char *s) {
    if (!s) return std::nullopt;
    return take(s);
}

// Runs a C call that hands out a string: the string, or Error.
template <typename Call> std::string call_string(Call call) {
    char *out = nullptr;
    ustb_error *err = nullptr;
    ustb_status st = call(&out, &err);
    if (st != USTB_OK) raise(st, err);
    return take(out);
}

} // namespace detail

/// The texts of one chunk; a missing field is std::nullopt.
struct Delta {
    std::optional<std::string> content;
    std::optional<std::string> reasoning_content;
    std::optional<std::string> finish_reason;
};

/// Reads a chunk's (or completion's) texts. Throws Error on JSON that is not a chunk.
inline Delta delta(const std::string &chunk_json) {
    char *content = nullptr, *reasoning = nullptr, *finish = nullptr;
    ustb_error *err = nullptr;
    ustb_status st = ustb_chunk_delta(chunk_json.c_str(), &content, &reasoning, &finish, &err);
    if (st != USTB_OK) detail::raise(st, err);
    return Delta{detail::take_optional(content), detail::take_optional(reasoning), detail::take_optional(finish)};
}

/// One streamed reply. Move-only; frees the C stream on destruction.
class Stream {
public:
    explicit Stream(ustb_chat_stream *s) noexcept : s_(s) {}
    Stream(Stream &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Stream &operator=(Stream &&o) noexcept {
        if (this != &o) {
            ustb_chat_stream_free(s_);
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    Stream(const Stream &) = delete;
    Stream &operator=(const Stream &) = delete;
    ~Stream() { ustb_chat_stream_free(s_); }

    /// The next chunk JSON, or std::nullopt at the end. Throws Error (e.g. USTB_CANCELLED).
    std::optional<std::string> next() {
        char *chunk = nullptr;
        ustb_error *err = nullptr;
        ustb_status st = ustb_chat_stream_next(s_, &chunk, nullptr, &err);
        if (st == USTB_END_OF_STREAM) return std::nullopt;
        if (st != USTB_OK) detail::raise(st, err);
        return detail::take(chunk);
    }

    /// Thread-safe and idempotent: a blocked next() throws Error(USTB_CANCELLED) promptly.
    void cancel() const noexcept { ustb_chat_stream_cancel(s_); }

    /// Input iterator over the chunks; the range ends at end of stream.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = std::string;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string *;
        using reference = const std::string &;

        iterator() = default;
        explicit iterator(Stream *s) : s_(s) { ++*this; }
        reference operator*() const { return current_; }
        pointer operator->() const { return &current_; }
        iterator &operator++() {
            auto next = s_->next();
            if (next) current_ = std::move(*next);
            else s_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator &o) const { return s_ == o.s_; }
        bool operator!=(const iterator &o) const { return s_ != o.s_; }

    private:
        Stream *s_ = nullptr;
        std::string current_;
    };

    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

private:
    ustb_chat_stream *s_;
};

/// Stops a platform call (Client::web_info() and the others): pass its address to the call,
/// and call cancel() from any thread; the call then throws Error(USTB_CANCELLED) promptly.
/// A cancelled Canceller stays cancelled (later calls given it throw at once, sending nothing),
/// so use a new one per call, or one for calls that should stop together. It serves one call
/// at a time: a second call running with it throws Error(USTB_INVALID_ARGUMENT).
class Canceller {
public:
    Canceller() {
        ustb_error *err = nullptr;
        ustb_status st = ustb_canceller_new(&c_, &err);
        if (st != USTB_OK) detail::raise(st, err);
    }
    Canceller(Canceller &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    Canceller &operator=(Canceller &&o) noexcept {
        if (this != &o) {
            ustb_canceller_free(c_);
            c_ = std::exchange(o.c_, nullptr);
        }
        return *this;
    }
    Canceller(const Canceller &) = delete;
    Canceller &operator=(const Canceller &) = delete;
    /// Must not run while a call uses it.
    ~Canceller() { ustb_canceller_free(c_); }

    /// Thread-safe, never blocks, idempotent.
    void cancel() const noexcept { ustb_canceller_cancel(c_); }
    const ustb_canceller *get() const noexcept { return c_; }

private:
    ustb_canceller *c_ = nullptr;
};

/// The answer of Client::login_state(). All three states are answers, not errors.
struct LoginState {
    enum State { logged_in, logged_out, unreachable };
    State state;
    int http_status;  ///< 0 when there was no answer (unreachable)
    std::string json; ///< {"state", "detail", "http_status", "error"} as the library gave it
};

/// A client of one server. Move-only; thread-safe to share by reference.
class Client {
public:
    /// Options JSON as for ustb_client_new ("{}" = defaults). Never touches the network.
    explicit Client(const std::string &options_json = "{}") {
        ustb_error *err = nullptr;
        ustb_status st = ustb_client_new(options_json.c_str(), &c_, &err);
        if (st != USTB_OK) detail::raise(st, err);
    }
    /// Takes ownership of a client from ustb_client_new or ustb_login_client.
    static Client adopt(ustb_client *c) noexcept { return Client(c, 0); }
    Client(Client &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    Client &operator=(Client &&o) noexcept {
        if (this != &o) {
            ustb_client_free(c_);
            c_ = std::exchange(o.c_, nullptr);
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() { ustb_client_free(c_); }

    /// The whole chat.completion JSON.
    std::string create(const std::string &request_json) const {
        char *out = nullptr;
        ustb_error *err = nullptr;
        ustb_status st = ustb_chat_create(c_, request_json.c_str(), &out, &err);
        if (st != USTB_OK) detail::raise(st, err);
        return detail::take(out);
    }

    /// Opens a stream; the request is checked now and sent on the first read.
    Stream stream(const std::string &request_json) const {
        ustb_chat_stream *s = nullptr;
        ustb_error *err = nullptr;
        ustb_status st = ustb_chat_stream_open(c_, request_json.c_str(), &s, &err);
        if (st != USTB_OK) detail::raise(st, err);
        return Stream(s);
    }

    /// {"easy_session":…, "vjuid_login":…, "cookie":…} (secrets: do not log).
    std::string cookies() const {
        char *out = nullptr;
        ustb_error *err = nullptr;
        ustb_status st = ustb_client_cookies(c_, &out, &err);
        if (st != USTB_OK) detail::raise(st, err);
        return detail::take(out);
    }

    /// GET /site/user_info (for a cookieless client the server issues an easy_session).
    std::string user_info() const {
        char *out = nullptr;
        ustb_error *err = nullptr;
        ustb_status st = ustb_client_user_info(c_, &out, &err);
        if (st != USTB_OK) detail::raise(st, err);
        return detail::take(out);
    }

    // The platform calls (docs/PROTOCOL.md section 5). Each blocks until the reply is read,
    // bounded by the client's timeouts, and returns the server's data (the envelope's `d`) as
    // JSON; `cancel` (may be null) stops it from another thread. A compose_id of 0 is the
    // client's default (the `compose_id` option, 3 unless set). Failures throw Error, e.g.
    // USTB_AUTH_ERROR (e=10042) for the session calls without a login.

    /// GET /common/web_info: the site's configuration.
    std::string web_info(const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_web_info(c_, raw(cancel), out, err);
        });
    }

    /// GET /site/ai/compose_list: the applications, a JSON list.
    std::string apps(const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_apps(c_, raw(cancel), out, err);
        });
    }

    /// GET /site/ai/compose_detail: one application (an unknown id is USTB_API_ERROR).
    std::string app_detail(std::int64_t compose_id = 0, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_app_detail(c_, compose_id, raw(cancel), out, err);
        });
    }

    /// GET /site/voom/page-setting: an application's page settings (model_select, …).
    std::string page_settings(std::int64_t compose_id = 0, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_page_settings(c_, compose_id, raw(cancel), out, err);
        });
    }

    /// A new session id (the bare id, not JSON). Needs a login.
    std::string new_session_id(std::int64_t compose_id = 0, const Canceller *cancel = nullptr) const {
        std::string json = detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_new_session_id(c_, compose_id, raw(cancel), out, err);
        });
        // A JSON string; ids the other calls accept are letters, digits, '-' and '_' only.
        if (json.size() < 2 || json.front() != '"' || json.back() != '"' ||
            json.find('\\') != std::string::npos)
            throw Error(USTB_PROTOCOL_ERROR, "unexpected session id: " + json, "{}", 0, 0);
        return json.substr(1, json.size() - 2);
    }

    /// GET /site/voom/session_list: the caller's sessions, newest first. page counts from 1;
    /// page_size is 1 to 100. Needs a login.
    std::string sessions(std::uint32_t page = 1, std::uint32_t page_size = 10, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_sessions(c_, page, page_size, raw(cancel), out, err);
        });
    }

    /// POST /site/voom/session_delete (an unknown id is not an error). Needs a login.
    std::string session_delete(const std::string &session_id, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_session_delete(c_, session_id.c_str(), raw(cancel), out, err);
        });
    }

    /// GET /site/voom/chat_history_info: a session's messages (unknown: []). Needs a login.
    std::string chat_history(const std::string &session_id, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_chat_history(c_, session_id.c_str(), raw(cancel), out, err);
        });
    }

    /// The models an application offers, as an OpenAI model list
    /// {"object":"list","data":[{"id","object","created","owned_by","label","compose_id"}]}.
    std::string models(std::int64_t compose_id = 0, const Canceller *cancel = nullptr) const {
        return detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_models(c_, compose_id, raw(cancel), out, err);
        });
    }

    /// Whether the login cookie works (one request of the chat page).
    LoginState login_state(const Canceller *cancel = nullptr) const {
        std::string json = detail::call_string([&](char **out, ustb_error **err) {
            return ustb_client_login_state(c_, raw(cancel), out, err);
        });
        // Compact JSON: these keys cannot occur inside a string value (quotes there are escaped).
        LoginState s{LoginState::unreachable, 0, json};
        if (json.find(R"("state":"logged_in")") != std::string::npos) s.state = LoginState::logged_in;
        else if (json.find(R"("state":"logged_out")") != std::string::npos) s.state = LoginState::logged_out;
        std::size_t at = json.find(R"("http_status":)");
        if (at != std::string::npos) s.http_status = std::atoi(json.c_str() + at + 14);
        return s;
    }

    const ustb_client *get() const noexcept { return c_; }

private:
    Client(ustb_client *c, int) noexcept : c_(c) {}
    static const ustb_canceller *raw(const Canceller *c) noexcept { return c ? c->get() : nullptr; }

    ustb_client *c_ = nullptr;
};

/// Where a QR code login is (Login::wait()).
enum class QrState {
    waiting = USTB_LOGIN_WAITING,     ///< nobody has scanned the code yet
    scanned = USTB_LOGIN_SCANNED,     ///< scanned on a phone, not yet confirmed there
    confirmed = USTB_LOGIN_CONFIRMED, ///< the login is complete: cookie() and client() work
    expired = USTB_LOGIN_EXPIRED,     ///< call qr_start() for a new code
};

inline const char *to_string(QrState s) noexcept {
    switch (s) {
    case QrState::waiting: return "waiting";
    case QrState::scanned: return "scanned";
    case QrState::confirmed: return "confirmed";
    case QrState::expired: return "expired";
    }
    return "unknown";
}

/// The two images of an SMS slider puzzle, PNG bytes (copies).
struct PuzzleImages {
    std::vector<std::uint8_t> background; ///< with a piece-shaped hole
    std::vector<std::uint8_t> piece;      ///< as tall as the background, transparent around
};

/// A login through the university SSO (ustb_login). Move-only; a moved-from Login throws
/// Error(USTB_INVALID_ARGUMENT). Use it from one thread at a time (a second call running at
/// the same time throws USTB_INVALID_ARGUMENT, "busy"); the network calls take an optional
/// Canceller whose cancel() from another thread makes them throw USTB_CANCELLED promptly.
///
/// QR code: qr_start() → show qr_png() or qr_text() → wait() until QrState::confirmed (on
/// QrState::expired, qr_start() again) → client() or cookie().
/// SMS: sms_send(phone) (the library solves the slider puzzle; or sms_puzzle() +
/// puzzle_images() for a person, then sms_send(phone, x)) → sms_submit(code) → client().
class Login {
public:
    /// `x` for sms_send(): the library fetches and solves the puzzle itself.
    static constexpr std::int32_t puzzle_auto = USTB_PUZZLE_AUTO;

    /// Options JSON as for ustb_login_new: the client's options plus sso_base_url,
    /// sis_base_url and ca_file. Never touches the network.
    explicit Login(const std::string &options_json = "{}") {
        ustb_error *err = nullptr;
        ustb_status st = ustb_login_new(options_json.c_str(), &l_, &err);
        if (st != USTB_OK) detail::raise(st, err);
    }
    Login(Login &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    Login &operator=(Login &&o) noexcept {
        if (this != &o) {
            ustb_login_free(l_);
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    Login(const Login &) = delete;
    Login &operator=(const Login &) = delete;
    /// Forgets the cookie (clients made from the login keep theirs). No call may be running.
    ~Login() { ustb_login_free(l_); }

    /// Starts the QR code login, or renews the code (after QrState::expired, or any time).
    void qr_start(const Canceller *cancel = nullptr) {
        check([&](ustb_error **err) { return ustb_login_qr_start(l_, raw(cancel), err); });
    }

    /// The current QR code as PNG bytes. USTB_INVALID_ARGUMENT before qr_start().
    std::vector<std::uint8_t> qr_png() const {
        const std::uint8_t *png = nullptr;
        std::size_t len = 0;
        check([&](ustb_error **err) { return ustb_login_qr_png(l_, &png, &len, err); });
        return std::vector<std::uint8_t>(png, png + len);
    }

    /// The current QR code drawn with Unicode half blocks for a terminal (dark modules filled).
    std::string qr_text() const {
        return detail::call_string([&](char **out, ustb_error **err) { return ustb_login_qr_text(l_, out, err); });
    }

    /// The SSO page showing the current QR code, for a browser (a one-time token: do not log).
    std::string qr_page_url() const {
        return detail::call_string([&](char **out, ustb_error **err) { return ustb_login_qr_page_url(l_, out, err); });
    }

    /// Waits up to `timeout` for the code's state to change: waiting or scanned (no change in
    /// time, or newly scanned), confirmed, or expired. Throws Error: USTB_AUTH_ERROR when the
    /// SSO says the QR session is invalid (start again), USTB_CANCELLED, a network status.
    QrState wait(std::chrono::milliseconds timeout, const Canceller *cancel = nullptr) {
        if (timeout.count() < 0) throw Error(USTB_INVALID_ARGUMENT, "timeout must not be negative", "{}", 0, 0);
        auto ms = static_cast<std::uint32_t>(std::min<std::chrono::milliseconds::rep>(timeout.count(), UINT32_MAX));
        ustb_login_state state = USTB_LOGIN_FAILED;
        check([&](ustb_error **err) { return ustb_login_qr_wait(l_, ms, raw(cancel), &state, err); });
        return static_cast<QrState>(state);
    }

    /// Fetches a slider puzzle for a person to solve (puzzle_images()); not needed with puzzle_auto.
    void sms_puzzle(const Canceller *cancel = nullptr) {
        check([&](ustb_error **err) { return ustb_login_sms_puzzle(l_, raw(cancel), err); });
    }

    /// The current puzzle's images. The answer is how many pixels from the background's left
    /// edge the piece's left edge belongs. USTB_INVALID_ARGUMENT when there is no puzzle.
    PuzzleImages puzzle_images() const {
        const std::uint8_t *bg = nullptr, *piece = nullptr;
        std::size_t bg_len = 0, piece_len = 0;
        check([&](ustb_error **err) { return ustb_login_puzzle_images(l_, &bg, &bg_len, &piece, &piece_len, err); });
        return PuzzleImages{std::vector<std::uint8_t>(bg, bg + bg_len), std::vector<std::uint8_t>(piece, piece + piece_len)};
    }

    /// The library's answer to the current puzzle (image matching; no network).
    std::uint32_t solve_puzzle() const {
        std::uint32_t x = 0;
        check([&](ustb_error **err) { return ustb_login_puzzle_solve(l_, &x, err); });
        return x;
    }

    /// Sends an SMS code to `phone` (11 digits starting with 1; checked before any traffic).
    /// `x` answers the current puzzle, or is puzzle_auto. The SSO's refusals throw
    /// USTB_API_ERROR: api_code() 5054 (wrong puzzle answer) or 201 (sent moments ago: wait a
    /// minute). The phone number never appears in errors.
    void sms_send(const std::string &phone, std::int32_t x = puzzle_auto, const Canceller *cancel = nullptr) {
        no_nul(phone, "phone");
        check([&](ustb_error **err) { return ustb_login_sms_send(l_, phone.c_str(), x, raw(cancel), err); });
    }

    /// Submits the code the phone received and completes the login. A refused code throws
    /// USTB_API_ERROR (another try is allowed).
    void sms_submit(const std::string &code, const Canceller *cancel = nullptr) {
        no_nul(code, "code");
        check([&](ustb_error **err) { return ustb_login_sms_submit(l_, code.c_str(), raw(cancel), err); });
    }

    /// The cookie_vjuid_login value, to store securely (a secret) and pass later as the
    /// `vjuid_login` client option. USTB_INVALID_ARGUMENT before the login succeeded.
    std::string cookie() const {
        return detail::call_string([&](char **out, ustb_error **err) { return ustb_login_cookie(l_, out, err); });
    }

    /// A new client with the login's options and cookie (no network).
    Client client() const {
        ustb_client *c = nullptr;
        check([&](ustb_error **err) { return ustb_login_client(l_, &c, err); });
        return Client::adopt(c);
    }

    /// Gives `client` the login's cookie, e.g. after USTB_AUTH_ERROR (its login expired).
    void install(const Client &client) const {
        check([&](ustb_error **err) { return ustb_login_install(l_, client.get(), err); });
    }

    const ustb_login *get() const noexcept { return l_; }

private:
    template <typename Call> static void check(Call call) {
        ustb_error *err = nullptr;
        ustb_status st = call(&err);
        if (st != USTB_OK) detail::raise(st, err);
    }
    // C would cut the string at a NUL byte; the message names the argument only (a secret).
    static void no_nul(const std::string &s, const char *name) {
        if (s.find('\0') != std::string::npos)
            throw Error(USTB_INVALID_ARGUMENT, std::string(name) + " contains a NUL byte", "{}", 0, 0);
    }
    static const ustb_canceller *raw(const Canceller *c) noexcept { return c ? c->get() : nullptr; }

    ustb_login *l_ = nullptr;
};

/// A log line's handler: level (USTB_LOG_ERROR … USTB_LOG_DEBUG) and the line, borrowed for
/// the call.
using LogCallback = std::function<void(ustb_log_level, std::string_view)>;

namespace detail {

// The handler the library calls now (its userdata), owned here; replaced under log_mutex.
inline std::mutex log_mutex;
inline LogCallback *log_current = nullptr;

inline void log_trampoline(void *userdata, ustb_log_level level, const char *message) noexcept {
    try {
        (*static_cast<LogCallback *>(userdata))(level, message);
    } catch (...) {
        // An exception must not cross the C library: the line is dropped.
    }
}

} // namespace detail

/// Routes the library's log lines (process-wide) to `fn`, for lines at `min_level` or more
/// important; an empty `fn` removes it (logging then follows the USTB_LOG environment
/// variable). `fn` runs on the thread that logs, maybe on several at once; exceptions from it
/// are dropped. Once this returns the previous handler is never called again. Throws
/// Error(USTB_INVALID_ARGUMENT) for a bad level or when called from inside the handler; the
/// handler must not wait for a thread that calls this.
inline void set_log_callback(LogCallback fn, ustb_log_level min_level = USTB_LOG_INFO) {
    std::lock_guard<std::mutex> lock(detail::log_mutex);
    LogCallback *next = fn ? new LogCallback(std::move(fn)) : nullptr;
    ustb_error *err = nullptr;
    ustb_status st = next ? ustb_set_log_callback(detail::log_trampoline, next, min_level, &err)
                          : ustb_set_log_callback(nullptr, nullptr, USTB_LOG_OFF, &err);
    if (st != USTB_OK) {
        delete next;
        detail::raise(st, err);
    }
    delete detail::log_current; // the library has waited for its running calls
    detail::log_current = next;
}

inline const char *version() noexcept { return ustb_version(); }

} // namespace ustb

#endif // USTB_OPENAI_HPP
