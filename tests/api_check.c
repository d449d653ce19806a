/* Compiled as C11 and as C++20 against the installed headers (see
 * install_test.sh): every options initialiser and enum list in use, so a
 * header that only one language accepts fails the build, and a declaration
 * without C linkage fails the link. */
#include <clgrad.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    clg_conv2d_opts conv = CLG_CONV2D_DEFAULTS;
    clg_conv_transpose2d_opts tconv = CLG_CONV_TRANSPOSE2D_DEFAULTS;
    clg_model_opts model = CLG_MODEL_DEFAULTS;
    clg_optim_opts optim = CLG_OPTIM_DEFAULTS;
    clg_schedule_opts schedule = CLG_SCHEDULE_DEFAULTS;
    clg_fit_opts fit = CLG_FIT_DEFAULTS;
    clg_csv_opts csv = CLG_CSV_DEFAULTS;
    clg_tokenizer_opts tokenizer = CLG_TOKENIZER_DEFAULTS;
    clg_augment augment = CLG_AUGMENT_NONE;
    clg_loader_opts loader = CLG_LOADER_DEFAULTS;
    clg_optim_type adam;
    if (clg_optim_type_parse("adam", &adam) != CLG_OK || adam != CLG_OPTIM_ADAM ||
        strcmp(clg_layer_type_str(CLG_LAYER_CONV2D), "conv2d") != 0 ||
        strcmp(clg_status_str(CLG_OK), "success") != 0 || !*clg_version())
        return 1;
    printf("api_check: %d %d %d %g %d %d %d %d %g %d\n", conv.stride_h, tconv.groups,
           model.max_batch, (double)optim.lr, schedule.step_size, fit.epochs, csv.header,
           tokenizer.merges, (double)augment.probability, loader.batch_size);
    return 0;
}
