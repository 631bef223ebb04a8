/* Built with `pkg-config --cflags --libs ustb_openai` only: pkg_config_check BASE_URL */
#include <stdio.h>
#include <string.h>

#include <ustb_openai.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char options[256];
    snprintf(options, sizeof options, "{\"base_url\":\"%s\",\"vjuid_login\":\"pc\"}", argv[1]);
    ustb_client *client = NULL;
    ustb_error *err = NULL;
    if (ustb_client_new(options, &client, &err) != USTB_OK) return 1;
    char *json = NULL, *content = NULL;
    ustb_status st = ustb_chat_create(client, "{\"messages\":[{\"role\":\"user\",\"content\":\"请介绍你自己。\"}]}", &json, &err);
    if (st != USTB_OK) {
        fprintf(stderr, "%s: %s\n", ustb_status_name((int)st), ustb_error_message(err));
        ustb_error_free(err);
        return 1;
    }
    st = ustb_chunk_delta(json, &content, NULL, NULL, &err);
    if (st == USTB_OK && content) printf("%s\n", content);
    ustb_string_free(content);
    ustb_string_free(json);
    ustb_client_free(client);
    return st == USTB_OK ? 0 : 1;
}
