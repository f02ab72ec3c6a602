;;; switchboard.el --- Switchboard AI language server with eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "29.1") (eglot "1.14"))
;; Keywords: languages, tools, ai

;;; Commentary:

;; Registers the `switchboard' language server with eglot (built into Emacs 29+), announces the
;; client capability that makes the server stream explanations to Emacs, renders them in a
;; *switchboard: ...* buffer as they arrive, and shows the provider/latency of the last task in
;; the mode line.
;;
;; eglot has no inline-completion (ghost text) UI: completions come through
;; `completion-at-point' (the server's popup items), and `switchboard-complete' inserts the
;; server's inline completion at point.  Code actions ("Switchboard: Explain", "Refactor", ...)
;; are in `eglot-code-actions' (C-c . or M-x eglot-code-actions).
;;
;; Setup:
;;   (add-to-list 'load-path "/path/to/switchboard/editors/emacs")
;;   (require 'switchboard)
;;   (setq switchboard-program "/path/to/switchboard")   ; when it is not on PATH
;;   (add-hook 'rust-ts-mode-hook #'eglot-ensure)         ; and the other modes you use
;;
;; eglot runs one server per major mode: to use Switchboard *beside* another server (say
;; rust-analyzer) in the same buffer, that needs a multiplexer such as `lsp-mode' or
;; `eglot-booster'/`rassumfrassum'; by default Switchboard replaces the mode's server.

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'cl-lib)

(defgroup switchboard nil
  "Switchboard AI language server."
  :group 'tools)

(defcustom switchboard-program "switchboard"
  "The switchboard binary (a name on `exec-path' or a full path)."
  :type 'string)

(defcustom switchboard-modes
  '(rust-mode rust-ts-mode python-mode python-ts-mode js-mode js-ts-mode typescript-mode
    typescript-ts-mode tsx-ts-mode go-mode go-ts-mode c-mode c-ts-mode c++-mode c++-ts-mode
    java-mode java-ts-mode lua-mode lua-ts-mode json-mode json-ts-mode sh-mode bash-ts-mode)
  "Major modes that use Switchboard."
  :type '(repeat symbol))

(defcustom switchboard-settings '(:completion (:debounce_ms 0))
  "Server settings, same schema as config.toml, as a plist.
Sent as initializationOptions and, under the `switchboard' section, with
workspace/didChangeConfiguration.  Name key env vars (:api_key_env), never keys."
  :type 'sexp)

;;;; Server registration

(defun switchboard--contact (&rest _)
  "The eglot contact for Switchboard."
  (list switchboard-program "serve" :initializationOptions switchboard-settings))

(add-to-list 'eglot-server-programs (cons switchboard-modes #'switchboard--contact))

(cl-defmethod eglot-client-capabilities :around (_server)
  "Announce `experimental.switchboard' (other servers ignore it)."
  (let* ((caps (cl-call-next-method))
         (experimental (plist-get caps :experimental)))
    (plist-put caps :experimental
               (plist-put (if (listp experimental) (copy-sequence experimental) nil)
                          :switchboard '(:explanationView t :status t)))))

(setq-default eglot-workspace-configuration
              (append (list :switchboard switchboard-settings)
                      (and (listp (default-value 'eglot-workspace-configuration))
                           (default-value 'eglot-workspace-configuration))))

;;;; Explanations: switchboard/explanation {id, title, delta, done, error?}

(defvar switchboard--explanations (make-hash-table :test #'equal)
  "Explanation buffers by stream id.")

(defun switchboard--explanation-buffer (id title)
  "The buffer for explanation ID, created with TITLE if needed."
  (let ((buf (gethash id switchboard--explanations)))
    (unless (buffer-live-p buf)
      (setq buf (get-buffer-create (format "*switchboard: %s*" (or title id))))
      (with-current-buffer buf
        (let ((inhibit-read-only t)) (erase-buffer))
        (if (fboundp 'gfm-view-mode) (gfm-view-mode)
          (if (fboundp 'markdown-view-mode) (markdown-view-mode) (special-mode))))
      (puthash id buf switchboard--explanations)
      (display-buffer buf '((display-buffer-reuse-window display-buffer-pop-up-window)
                            (inhibit-same-window . t))))
    buf))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql switchboard/explanation)) &key id title delta done error &allow-other-keys)
  "Append a streamed explanation chunk."
  (let ((buf (switchboard--explanation-buffer id title)))
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (save-excursion
          (goto-char (point-max))
          (when (stringp delta) (insert delta))
          (when (and error (stringp error)) (insert "\n\n**Error:** " error "\n"))))
      (when (and done (not (eq done :json-false)))
        (setq mode-line-process " done")
        (force-mode-line-update)))))

;;;; Status: switchboard/status {task, provider?, model?, latencyMs?, error?}

(defvar switchboard-status nil
  "The last `switchboard/status' notification, as a plist.")

(defun switchboard-status-string ()
  "Mode-line text for the last Switchboard task."
  (let ((s switchboard-status))
    (cond ((null s) "")
          ((plist-get s :error) (format " SB✗%s" (or (plist-get s :provider) "")))
          (t (format " SB:%s%s" (or (plist-get s :provider) "?")
                     (if (numberp (plist-get s :latencyMs))
                         (format " %dms" (round (plist-get s :latencyMs))) ""))))))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql switchboard/status)) &rest params &allow-other-keys)
  "Remember the last task's provider, latency or error."
  (setq switchboard-status params)
  (force-mode-line-update t))

(add-to-list 'global-mode-string '(:eval (switchboard-status-string)) t)

;;;; Commands

(defun switchboard--server ()
  "The Switchboard eglot server of this buffer."
  (let ((server (eglot-current-server)))
    (unless server (user-error "Switchboard is not running in this buffer (M-x eglot)"))
    server))

(defun switchboard-complete ()
  "Insert the server's inline completion at point (eglot has no ghost text)."
  (interactive)
  (let* ((server (switchboard--server))
         (result (jsonrpc-request server :textDocument/inlineCompletion
                                  (append (eglot--TextDocumentPositionParams)
                                          '(:context (:triggerKind 1)))))
         (items (if (vectorp result) result (plist-get result :items)))
         (item (and items (> (length items) 0) (aref items 0))))
    (if (not item)
        (message "Switchboard: no completion here")
      (let* ((text (plist-get item :insertText))
             (text (if (stringp text) text (plist-get text :value)))
             (range (plist-get item :range)))
        (if range
            (pcase-let ((`(,beg . ,end) (eglot-range-region range)))
              (delete-region beg end)
              (goto-char beg))
          nil)
        (insert text)
        (when-let* ((cmd (plist-get item :command)))
          (eglot-execute server cmd))))))

(defun switchboard-doctor ()
  "Show the server's doctor report."
  (interactive)
  (let ((report (jsonrpc-request (switchboard--server) :workspace/executeCommand
                                 '(:command "switchboard.doctor" :arguments []))))
    (with-current-buffer (get-buffer-create "*switchboard doctor*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (if (stringp report) report (format "%S" report))))
      (special-mode)
      (display-buffer (current-buffer)))))

(defun switchboard-action (name)
  "Run the Switchboard code action whose title contains NAME (e.g. \"Explain\").
Acts on the region when active, else on the code around point."
  (interactive (list (completing-read "Switchboard action: "
                                      '("Explain" "Refactor" "Fix" "Add documentation" "Write tests"))))
  (let* ((server (switchboard--server))
         (beg (if (use-region-p) (region-beginning) (point)))
         (end (if (use-region-p) (region-end) (point)))
         (actions (jsonrpc-request server :textDocument/codeAction
                                   (list :textDocument (eglot--TextDocumentIdentifier)
                                         :range (list :start (eglot--pos-to-lsp-position beg)
                                                      :end (eglot--pos-to-lsp-position end))
                                         :context (list :diagnostics []))))
         (action (cl-find-if (lambda (a) (string-match-p (regexp-quote name) (or (plist-get a :title) "")))
                             actions)))
    (unless action
      (user-error "Switchboard: no \"%s\" action here" name))
    (unless (or (plist-get action :edit) (plist-get action :command))
      (setq action (jsonrpc-request server :codeAction/resolve action)))
    (when-let* ((edit (plist-get action :edit)))
      (eglot--apply-workspace-edit edit 'switchboard))
    (when-let* ((cmd (plist-get action :command)))
      (jsonrpc-request server :workspace/executeCommand
                       (list :command (plist-get cmd :command)
                             :arguments (or (plist-get cmd :arguments) []))))))

(provide 'switchboard)
;;; switchboard.el ends here
