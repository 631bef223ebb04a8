// chat (C++): stream one reply through include/ustb_openai.hpp.
//   chat_cpp [--base-url URL] [--cookie COOKIE] "prompt"
#include <cstdio>
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

int main(int argc, char **argv) {
    std::string base_url, cookie, prompt;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--base-url") && i + 1 < argc) base_url = argv[++i];
        else if (!std::strcmp(argv[i], "--cookie") && i + 1 < argc) cookie = argv[++i];
        else prompt = argv[i];
    }
    if (prompt.empty()) {
        std::cerr << "usage: chat_cpp [--base-url URL] [--cookie COOKIE] \"prompt\"\n";
        return 2;
    }
    std::string options = "{";
    if (!base_url.empty()) options += "\"base_url\":" + quote(base_url);
    if (!cookie.empty()) options += std::string(base_url.empty() ? "" : ",") + "\"cookie\":" + quote(cookie);
    options += "}";
    try {
        ustb::Client client(options);
        ustb::Stream stream = client.stream(R"({"model":"deepseek-r1","messages":[{"role":"user","content":)" +
                                            quote(prompt) + "}]}");
        bool answering = false;
        for (const std::string &chunk : stream) {
            ustb::Delta d = ustb::delta(chunk);
            if (d.reasoning_content) std::cout << *d.reasoning_content;
            if (d.content && !d.content->empty()) {
                if (!answering) std::cout << "\n---\n";
                answering = true;
                std::cout << *d.content;
            }
            std::cout.flush();
        }
        std::cout << "\n";
    } catch (const ustb::Error &e) {
        std::cerr << "\nchat_cpp: " << e.status_name() << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
