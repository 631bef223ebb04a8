// A C++ program of your own project using the installed library (ustb_openai.hpp): one streamed
// reply from the server at argv[1] (default the real one). Built by consumer-test.sh with CMake.
#include <iostream>
#include <ustb_openai.hpp>

int main(int argc, char **argv) try {
    ustb::Client client(std::string(R"({"vjuid_login":"x","base_url":")") +
                        (argc > 1 ? argv[1] : "http://chat.ustb.edu.cn") + "\"}");
    for (const std::string &chunk : client.stream(R"({"messages":[{"role":"user","content":"你好"}]})"))
        std::cout << ustb::delta(chunk).content.value_or("");
    std::cout << std::endl;
} catch (const ustb::Error &e) {
    std::cerr << e.status_name() << ": " << e.what() << "\n";
    return 1;
}
