;;; e2e.el --- batch check of editors/emacs/switchboard.el with eglot against the real server  -*- lexical-binding: t; -*-
(setq byte-compile-error-on-warn nil)
(unless (byte-compile-file "/opt/emacs-e2e/switchboard.el")
  (message "FAIL byte-compile") (kill-emacs 2))
(add-to-list 'load-path "/opt/emacs-e2e")
(define-derived-mode rust-mode prog-mode "Rust")
(require 'switchboard)
(setq switchboard-program "/opt/emacs-e2e/switchboard")
(defvar e2e-failed 0)
(defvar e2e-passed 0)
(defmacro e2e-check (name &rest body)
  `(condition-case err
       (progn ,@body (setq e2e-passed (1+ e2e-passed)) (message "PASS %s" ,name))
     (error (setq e2e-failed (1+ e2e-failed)) (message "FAIL %s: %S" ,name err))))
(find-file "/opt/emacs-e2e/ws/a.rs")
(rust-mode)
(apply #'eglot (eglot--guess-contact))
(let ((server (eglot-current-server)))
  (e2e-check "initialize"
    (unless (plist-get (eglot--capabilities server) :inlineCompletionProvider)
      (error "no inlineCompletionProvider")))
  (e2e-check "switchboard-complete"
    (goto-char (point-min)) (forward-line 1) (end-of-line)
    (switchboard-complete)
    (let ((line (buffer-substring (line-beginning-position) (line-end-position))))
      (message "line 2 after switchboard-complete: %S" line)
      (unless (string-search "a + b" line) (error "line 2 is %S" line))))
  (e2e-check "switchboard-doctor"
    (switchboard-doctor)
    (with-current-buffer "*switchboard doctor*"
      (when (< (buffer-size) 10) (error "empty doctor report"))))
  (ignore-errors (eglot-shutdown server)))
(message "emacs: %d passed, %d failed" e2e-passed e2e-failed)
(kill-emacs (if (= e2e-failed 0) 0 1))
