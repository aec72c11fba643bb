/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Replays inputs of a libFuzzer target in a build without the engine,
 * libFuzzer's convention: main() calls LLVMFuzzerTestOneInput() on each
 * file given, and on each file of each directory given (in name order).
 * Speaks TAP, one line per input; a failing input aborts the program,
 * as it would the engine.
 */

#include "qemu/osdep.h"
#include "xen-mapcache-fuzz.h"

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files named by @argv, directories expanded; g_ptr_array_unref(). */
static GPtrArray *input_files(int argc, char **argv)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    int i;

    for (i = 1; i < argc; i++) {
        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        const char *name;
        guint j;

        if (!dir) {
            g_ptr_array_add(files, g_strdup(argv[i]));
            continue;
        }
        while ((name = g_dir_read_name(dir))) {
            g_ptr_array_add(names, (char *)name);
        }
        g_ptr_array_sort(names, compare_names);
        for (j = 0; j < names->len; j++) {
            g_ptr_array_add(files, g_build_filename(argv[i],
                                                    names->pdata[j], NULL));
        }
    }
    return files;
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) files = NULL;
    int status = 0;
    guint i;

    LLVMFuzzerInitialize(&argc, &argv);
    files = input_files(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("TAP version 13\n1..%u\n", files->len);
    for (i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        g_autofree char *data = NULL;
        g_autoptr(GError) err = NULL;
        gsize len;

        if (!g_file_get_contents(file, &data, &len, &err)) {
            printf("not ok %u - %s\n# %s\n", i + 1, file, err->message);
            status = 1;
            continue;
        }
        printf("# %s (%zu bytes)\n", file, (size_t)len);
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        printf("ok %u - %s\n", i + 1, file);
    }
    return status;
}
