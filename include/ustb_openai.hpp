// ustb_openai.hpp: header-only C++17 wrapper over ustb_openai.h.
//
// - ustb::Client and ustb::Stream are move-only RAII handles.
// - Failures throw ustb::Error, which carries the status, the server's code and the JSON detail.
// - A Stream is a range: `for (const std::string& chunk : stream)` yields chunk JSON strings;
//   ustb::delta(chunk) reads their texts. stream.cancel() may be called from another thread.
// Thread-safety is the C API's: a Client may be shared by threads; a Stream is read by one
// thread at a time, and cancel() is safe from any thread until the Stream is destroyed.
#ifndef USTB_OPENAI_HPP
#define USTB_OPENAI_HPP

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "ustb_openai.h"

namespace ustb {

/// A failed call: what(), status(), api_code() (server's `e`, 0 if none), http_status()
/// (0 if none) and detail() (JSON: type, message, e, m, http_status).
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

/// A client of one server. Move-only; thread-safe to share by reference.
class Client {
public:
    /// Options JSON as for ustb_client_new ("{}" = defaults). Never touches the network.
    explicit Client(const std::string &options_json = "{}") {
        ustb_error *err = nullptr;
        ustb_status st = ustb_client_new(options_json.c_str(), &c_, &err);
        if (st != USTB_OK) detail::raise(st, err);
    }
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

    const ustb_client *get() const noexcept { return c_; }

private:
    ustb_client *c_ = nullptr;
};

inline const char *version() noexcept { return ustb_version(); }

} // namespace ustb

#endif // USTB_OPENAI_HPP
