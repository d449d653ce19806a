"""fit()'s progress: tqdm's bar where tqdm is installed (in Jupyter too),
else a plain one on a terminal, a line per epoch elsewhere."""
import math
import sys
import time


class Progress:
    """verbose 0: silent; 1: a bar per epoch; 2: a line per epoch."""

    def __init__(self, verbose, epochs, text):
        self.verbose, self.epochs, self.text = verbose, epochs, text
        self.bar, self.shown, self.tty = None, 0.0, sys.stderr.isatty()
        self.tqdm = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                pass

    def step(self, epoch, batch, batches, step, loss, running_loss, running_accuracy, lr,
             samples_per_second):
        """Called after each step, with the GIL; cheap unless it is time to
        draw."""
        if self.verbose != 1:
            return True
        unit = "tokens/s" if self.text else "samples/s"
        if self.tqdm is not None:
            if self.bar is None:
                self.bar = self.tqdm(total=batches, desc="epoch %d/%d" % (epoch + 1,
                                                                          self.epochs),
                                     leave=True)
            self.bar.n = batch + 1
            now = time.monotonic()
            if now - self.shown > 0.1 or batch + 1 == batches:
                self.shown = now
                self.bar.set_postfix(loss="%.4f" % running_loss,
                                     acc="%.4f" % running_accuracy, refresh=False)
                self.bar.refresh()
            return True
        now = time.monotonic()
        if self.tty and (now - self.shown > 0.1 or batch + 1 == batches):
            self.shown = now
            done = int(30 * (batch + 1) / max(batches, 1))
            sys.stderr.write("\r\033[Kepoch %d/%d [%s%s] %d/%d loss %.4f acc %.4f %.0f %s"
                             % (epoch + 1, self.epochs, "=" * done, "." * (30 - done),
                                batch + 1, batches, running_loss, running_accuracy,
                                samples_per_second, unit))
            sys.stderr.flush()
        return True

    def epoch(self, logs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose == 0:
            return
        if self.verbose == 1 and self.tty and self.tqdm is None:
            sys.stderr.write("\r\033[K")
        val = "" if math.isnan(logs["val_loss"]) else \
            " val_loss %.4f val_acc %.4f" % (logs["val_loss"], logs["val_accuracy"])
        sys.stderr.write("epoch %d/%d loss %.4f acc %.4f%s %.1f s\n"
                         % (logs["epoch"], self.epochs, logs["loss"], logs["accuracy"], val,
                            logs["seconds"]))
        sys.stderr.flush()

    def warning(self, message):
        sys.stderr.write("\nclgrad: %s\n" % message)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
