/* A program of your own project using the installed library: one reply, from the server at
 * argv[1] (default the real one). Built by consumer-test.sh with pkg-config and with CMake. */
#include <stdio.h>
#include <ustb_openai.h>

int main(int argc, char **argv) {
    char options[512], *reply = NULL, *text = NULL;
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"vjuid_login\":\"x\"}",
             argc > 1 ? argv[1] : "http://chat.ustb.edu.cn");
    ustb_client *client = NULL;
    ustb_error *err = NULL;
    ustb_status st = ustb_client_new(options, &client, &err);
    if (st == USTB_OK)
        st = ustb_chat_create(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"你好\"}]}", &reply, &err);
    if (st == USTB_OK) st = ustb_chunk_delta(reply, &text, NULL, NULL, &err);
    if (st == USTB_OK) printf("%s\n", text);
    else fprintf(stderr, "%s: %s\n", ustb_status_name((int)st), ustb_error_message(err));
    ustb_error_free(err);
    ustb_string_free(text);
    ustb_string_free(reply);
    ustb_client_free(client);
    return st == USTB_OK ? 0 : 1;
}
