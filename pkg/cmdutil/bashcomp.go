package cmdutil

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// GenBashCompletion writes cobra's bash completion script (v2) with one
// repair. Cobra escapes a lone candidate with printf %q, which turns
// "registry:read,registry:publish" into "registry:read\,registry:publish";
// its trimming of the part before the last ':' (a word break in bash) then
// no longer matches, and bash pastes the whole candidate after the colon:
// "registry:read,registry:registry:read\,registry:publish". A comma needs no
// escaping in bash, so the repair undoes that escape before the trimming.
func GenBashCompletion(root *cobra.Command, w io.Writer, descriptions bool) error {
	var b bytes.Buffer
	if err := root.GenBashCompletionV2(&b, descriptions); err != nil {
		return err
	}
	name := root.Name()
	hook := fmt.Sprintf("    __%s_handle_special_char \"$cur\" :\n", name)
	script := b.String()
	if strings.Count(script, hook) != 1 {
		return fmt.Errorf("bash completion: cobra's script changed; the comma repair no longer applies")
	}
	fix := fmt.Sprintf(`    # a comma needs no escaping: undo printf %%q's "\," so that the
    # trimming below matches what was typed (comma-separated lists)
    local __ci
    for __ci in ${!COMPREPLY[*]}; do
        COMPREPLY[__ci]=${COMPREPLY[__ci]//\\,/,}
    done
`)
	script = strings.Replace(script, hook, fix+hook, 1)
	_, err := io.WriteString(w, script)
	return err
}

// CompletionFlagDefaults gives every flag that takes a value and has no
// completion of its own "no file names" (a flag that takes a path is marked
// with MarkFlagFilename and keeps completing files), and makes the
// `completion bash` command write the repaired script (GenBashCompletion).
func CompletionFlagDefaults(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if fl.Value.Type() == "bool" {
				return
			}
			if _, ok := fl.Annotations[cobra.BashCompFilenameExt]; ok {
				return
			}
			if _, ok := c.GetFlagCompletionFunc(fl.Name); ok {
				return
			}
			_ = c.RegisterFlagCompletionFunc(fl.Name, cobra.NoFileCompletions)
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		for _, sh := range c.Commands() {
			if sh.Name() != "bash" {
				continue
			}
			sh.RunE = func(cmd *cobra.Command, args []string) error {
				noDesc, _ := cmd.Flags().GetBool("no-descriptions")
				return GenBashCompletion(root, cmd.OutOrStdout(), !noDesc)
			}
			sh.Run = nil
		}
	}
}
