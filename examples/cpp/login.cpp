// login (C++): log in with the university SSO's WeChat QR code through ustb::Login, then
// stream one reply with the new login.
//   login_cpp [--base-url URL] [--sso-base-url URL] [--sis-base-url URL] [--cookie-file FILE] ["prompt"]
// Defaults come from USTB_BASE_URL, USTB_SSO_BASE_URL and USTB_SIS_BASE_URL, else the real
// hosts. Prints the QR code as text, the progress (waiting, scanned, confirmed; an expired code
// is renewed), saves the cookie to FILE with mode 0600, and prints the reply.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "ustb_openai.hpp"

// JSON string literal for s.
static std::string quote(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
        else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
        else out += static_cast<char>(c);
    }
    return out + "\"";
}

static std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

// Shows QR codes and their progress until one is confirmed; renews an expired one (a few times).
static void login_by_qr(ustb::Login &login) {
    for (int renewals = 0;; renewals++) {
        login.qr_start();
        std::cout << login.qr_text() << "scan the QR code with WeChat and confirm on the phone\nwaiting\n" << std::flush;
        ustb::QrState last = ustb::QrState::waiting;
        while (last != ustb::QrState::confirmed && last != ustb::QrState::expired) {
            ustb::QrState state = login.wait(std::chrono::seconds(30));
            if (state != last) std::cout << ustb::to_string(state) << "\n" << std::flush;
            last = state;
        }
        if (last == ustb::QrState::confirmed) return;
        if (renewals == 5) throw std::runtime_error("the QR code expired too often");
        std::cout << "renewing the QR code\n";
    }
}

// Writes the secret to a file only its owner can read, also when the file existed.
static bool save_secret(const std::string &path, const std::string &secret) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return false;
    std::string line = secret + "\n";
    bool ok = fchmod(fd, 0600) == 0 && write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    return close(fd) == 0 && ok;
}

int main(int argc, char **argv) {
    std::string base_url = env_or("USTB_BASE_URL", ""), sso = env_or("USTB_SSO_BASE_URL", ""),
                sis = env_or("USTB_SIS_BASE_URL", ""), cookie_file, prompt = "你好";
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--base-url") && i + 1 < argc) base_url = argv[++i];
        else if (!std::strcmp(argv[i], "--sso-base-url") && i + 1 < argc) sso = argv[++i];
        else if (!std::strcmp(argv[i], "--sis-base-url") && i + 1 < argc) sis = argv[++i];
        else if (!std::strcmp(argv[i], "--cookie-file") && i + 1 < argc) cookie_file = argv[++i];
        else if (argv[i][0] == '-') {
            std::cerr << "usage: login_cpp [--base-url URL] [--sso-base-url URL] [--sis-base-url URL] "
                         "[--cookie-file FILE] [\"prompt\"]\n";
            return 2;
        } else prompt = argv[i];
    }
    std::string options = "{\"max_retries\":1";
    if (!base_url.empty()) options += ",\"base_url\":" + quote(base_url);
    if (!sso.empty()) options += ",\"sso_base_url\":" + quote(sso);
    if (!sis.empty()) options += ",\"sis_base_url\":" + quote(sis);
    options += "}";
    try {
        ustb::Login login(options);
        login_by_qr(login);
        if (cookie_file.empty()) {
            std::cout << "no --cookie-file given: the cookie would be saved to a file you name, with mode 0600\n";
        } else if (save_secret(cookie_file, login.cookie())) {
            std::cout << "cookie saved to " << cookie_file << " (mode 0600)\n";
        } else {
            std::perror(cookie_file.c_str());
            return 1;
        }
        ustb::Client client = login.client();
        std::cout << "【回答】\n";
        for (const std::string &chunk : client.stream(R"({"deep_thinking":false,"messages":[{"role":"user","content":)" +
                                                      quote(prompt) + "}]}"))
            std::cout << ustb::delta(chunk).content.value_or("") << std::flush;
        std::cout << "\n";
    } catch (const ustb::Error &e) {
        std::cerr << "login_cpp: " << e.status_name() << ": " << e.what() << "\n";
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "login_cpp: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
