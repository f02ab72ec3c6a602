--- Switchboard for Neovim: AI completions (Codex-class models) and code actions (Claude) over LSP.
---
--- require("switchboard").setup{ cmd = {...}, filetypes = {...}, settings = {...}, keymaps = {...} }
---
--- Built on vim.lsp.config / vim.lsp.enable (Neovim 0.11+). On 0.12+ ghost text comes from
--- vim.lsp.inline_completion; popup items come from vim.lsp.completion on every version.
local M = {}

local NAME = 'switchboard'

---@class switchboard.Keymaps
---@field accept string|false  accept the ghost text (insert mode); falls back to the key itself
---@field accept_word string|false  accept the next word of the ghost text; the rest stays shown
---@field accept_line string|false  accept the rest of the current line of the ghost text
---@field next string|false    next inline candidate
---@field prev string|false    previous inline candidate

---@class switchboard.Config
M.defaults = {
  --- Command that starts the server.
  cmd = { 'switchboard' },
  --- Filetypes to attach to; nil attaches to every filetype.
  filetypes = {
    'rust', 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'c', 'cpp',
    'java', 'lua', 'json', 'sh', 'bash',
  },
  root_markers = { 'switchboard.toml', '.git' },
  --- Server settings, same schema as config.toml (providers, routes, completion, actions ...). Sent as
  --- initializationOptions and again with workspace/didChangeConfiguration. Name key env vars
  --- (api_key_env) here, never keys.
  settings = {},
  --- Ghost text (0.12+).
  inline = true,
  --- Popup items from textDocument/completion. autotrigger = true opens the menu while typing.
  completion = { enable = true, autotrigger = false },
  keymaps = { accept = '<Tab>', accept_word = '<M-Right>', accept_line = '<M-C-Right>', next = '<M-]>', prev = '<M-[>' },
  --- Floating window for streamed explanations.
  explanation = { width = 0.6, height = 0.6, border = 'rounded' },
}

M.config = vim.deepcopy(M.defaults)

--- Last `switchboard/status` notification: { task, provider?, model?, latencyMs?, error? }.
M.status = nil

--- Streamed explanations by id: { id, title, text, done, error, buf, win }.
M.explanations = {}
M.last_explanation = nil

-- ---------------------------------------------------------------------------------------------
-- Explanations: `switchboard/explanation` { id, title, delta, done, error? } rendered in a float.

local function explanation_lines(e)
  local lines = vim.split(e.text, '\n', { plain = true })
  if e.error then
    vim.list_extend(lines, { '', '**Error:** ' .. e.error })
  end
  return lines
end

local function open_float(e)
  local cfg = M.config.explanation or {}
  local cols, rows = vim.o.columns, vim.o.lines
  local width = math.max(40, math.floor(cols * (cfg.width or 0.6)))
  local height = math.max(8, math.floor(rows * (cfg.height or 0.6)))
  width, height = math.min(width, cols - 4), math.min(height, rows - 4)
  if not (e.buf and vim.api.nvim_buf_is_valid(e.buf)) then
    e.buf = vim.api.nvim_create_buf(false, true)
    vim.bo[e.buf].bufhidden = 'wipe'
    vim.bo[e.buf].filetype = 'markdown'
    vim.api.nvim_buf_set_name(e.buf, 'switchboard://explanation/' .. e.id)
    vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = e.buf, nowait = true, desc = 'Close explanation' })
  end
  if not (e.win and vim.api.nvim_win_is_valid(e.win)) then
    e.win = vim.api.nvim_open_win(e.buf, false, {
      relative = 'editor',
      width = width,
      height = height,
      row = math.floor((rows - height) / 2) - 1,
      col = math.floor((cols - width) / 2),
      style = 'minimal',
      border = cfg.border or 'rounded',
      title = ' ' .. (e.title ~= '' and e.title or 'Switchboard') .. ' ',
      title_pos = 'center',
      footer = ' streaming… ',
      footer_pos = 'right',
    })
    vim.wo[e.win].wrap = true
    vim.wo[e.win].linebreak = true
    vim.wo[e.win].conceallevel = 2
  end
end

local function render_explanation(e)
  open_float(e)
  vim.bo[e.buf].modifiable = true
  vim.api.nvim_buf_set_lines(e.buf, 0, -1, false, explanation_lines(e))
  vim.bo[e.buf].modifiable = false
  if vim.api.nvim_win_is_valid(e.win) then
    local footer = e.error and ' failed ' or (e.done and ' done · q closes ' or ' streaming… ')
    -- grow with the text (wrapped lines included), up to the configured height
    local cfg = M.config.explanation or {}
    local maxh = math.min(math.max(8, math.floor(vim.o.lines * (cfg.height or 0.6))), vim.o.lines - 4)
    local width = vim.api.nvim_win_get_width(e.win)
    local need = 0
    for _, l in ipairs(vim.api.nvim_buf_get_lines(e.buf, 0, -1, false)) do
      need = need + math.max(1, math.ceil(vim.fn.strdisplaywidth(l) / math.max(1, width)))
    end
    local height = math.max(3, math.min(maxh, need))
    pcall(vim.api.nvim_win_set_config, e.win, {
      relative = 'editor',
      row = math.floor((vim.o.lines - height) / 2) - 1,
      col = math.floor((vim.o.columns - width) / 2),
      height = height,
      footer = footer,
      footer_pos = 'right',
    })
    -- follow the stream while it arrives
    if not e.done then
      pcall(vim.api.nvim_win_set_cursor, e.win, { vim.api.nvim_buf_line_count(e.buf), 0 })
    end
  end
end

--- Handler for the `switchboard/explanation` notification.
function M.on_explanation(_, params)
  if type(params) ~= 'table' or params.id == nil then
    return
  end
  local id = tostring(params.id)
  local e = M.explanations[id]
  if not e then
    e = { id = id, title = params.title or 'Switchboard', text = '' }
    M.explanations[id] = e
  end
  if params.title and params.title ~= '' then
    e.title = params.title
  end
  e.text = e.text .. (params.delta or '')
  e.done = params.done == true
  e.error = params.error
  M.last_explanation = e
  render_explanation(e)
end

-- ---------------------------------------------------------------------------------------------
-- Status: `switchboard/status` { task, provider?, model?, latencyMs?, error? }.

function M.on_status(_, params)
  if type(params) ~= 'table' then
    return
  end
  M.status = params
  vim.api.nvim_exec_autocmds('User', { pattern = 'SwitchboardStatus', modeline = false, data = params })
  vim.cmd('redrawstatus')
end

--- A statusline component: `%{%v:lua.require'switchboard'.statusline()%}`.
--- Shows the provider that served the last task and its latency, or the last error.
---@return string
function M.statusline()
  local s = M.status
  if not s then
    local running = #vim.lsp.get_clients({ name = NAME }) > 0
    return running and 'SB' or ''
  end
  if s.error and s.error ~= vim.NIL and s.error ~= '' then
    return 'SB ' .. (s.provider and s.provider ~= vim.NIL and (s.provider .. ' ') or '') .. '✗ ' .. tostring(s.error)
  end
  local parts = { 'SB' }
  if s.provider and s.provider ~= vim.NIL then
    parts[#parts + 1] = tostring(s.provider)
  end
  if type(s.latencyMs) == 'number' then
    parts[#parts + 1] = string.format('%dms', math.floor(s.latencyMs + 0.5))
  end
  return table.concat(parts, ' ')
end

-- ---------------------------------------------------------------------------------------------
-- Client helpers.

---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = NAME, bufnr = bufnr })
  if #clients == 0 and bufnr then
    clients = vim.lsp.get_clients({ name = NAME })
  end
  return clients[1]
end

--- Runs a server command (workspace/executeCommand) and calls `cb(err, result)`.
function M.exec(command, arguments, cb)
  local client = M.client(vim.api.nvim_get_current_buf())
  if not client then
    vim.notify('switchboard: the server is not running', vim.log.levels.WARN)
    return
  end
  client:request('workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if cb then
      cb(err, result)
    end
  end, vim.api.nvim_get_current_buf())
end

local function show_text(title, text)
  local e = { id = 'cmd-' .. title, title = title, text = text, done = true }
  M.explanations[e.id] = e
  render_explanation(e)
  if e.win and vim.api.nvim_win_is_valid(e.win) then
    vim.api.nvim_set_current_win(e.win)
  end
end

--- Runs the Switchboard code action whose title contains `name` (e.g. "Explain", "Refactor").
function M.action(name)
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      return action.title:lower():find(name:lower(), 1, true) ~= nil
        and action.title:find('Switchboard', 1, true) ~= nil
    end,
  })
end

function M.doctor()
  M.exec('switchboard.doctor', {}, function(err, result)
    if err then
      vim.notify('switchboard doctor: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    show_text('Switchboard doctor', type(result) == 'string' and result or vim.inspect(result))
  end)
end

function M.stats()
  M.exec('switchboard.stats', {}, function(err, result)
    if err then
      vim.notify('switchboard stats: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    show_text('Switchboard stats', type(result) == 'string' and result or vim.inspect(result))
  end)
end

function M.toggle_inline()
  if not (vim.lsp.inline_completion and vim.lsp.inline_completion.enable) then
    vim.notify('switchboard: inline completion needs Neovim 0.12+', vim.log.levels.WARN)
    return
  end
  local on = not vim.lsp.inline_completion.is_enabled()
  vim.lsp.inline_completion.enable(on)
  vim.notify('switchboard: inline completion ' .. (on and 'on' or 'off'))
end

function M.restart()
  for _, c in ipairs(vim.lsp.get_clients({ name = NAME })) do
    c:stop(true)
  end
  vim.defer_fn(function()
    vim.lsp.enable(NAME, false)
    vim.lsp.enable(NAME, true)
  end, 500)
end

-- ---------------------------------------------------------------------------------------------
-- Partial accept.

--- The head of `rest` (the not yet typed part of a suggestion) that one partial accept inserts:
--- 'word' = leading whitespace plus a run of word characters (or of other symbols); 'line' = up to
--- the end of the line (when `rest` starts a new line: that whole next line).
---@param rest string
---@param unit 'word'|'line'
---@return string
function M.partial(rest, unit)
  if unit == 'line' then
    local from = rest:sub(1, 1) == '\n' and 2 or 1
    local nl = rest:find('\n', from, true)
    return nl and rest:sub(1, nl - 1) or rest
  end
  local ws = rest:match('^%s*')
  local after = rest:sub(#ws + 1)
  return ws .. (after:match('^[%w_]+') or after:match('^[^%w_%s]+') or '')
end

--- Inserts the next word or line of the shown suggestion at the cursor. The server's typing-through
--- cache then shows the rest at once, without a new model request. Returns false when nothing is shown.
---@param unit 'word'|'line'
function M.accept_partial(unit)
  return vim.lsp.inline_completion.get({
    on_accept = function(item)
      local text = item.insert_text
      if type(text) ~= 'string' then
        return item -- a snippet is accepted whole
      end
      local row, col = unpack(vim.api.nvim_win_get_cursor(0))
      row = row - 1
      local typed = ''
      if item.range then
        local sr, sc = item.range:to_extmark()
        if sr ~= row or sc > col then
          return item
        end
        typed = vim.api.nvim_buf_get_text(0, sr, sc, row, col, {})[1] or ''
      end
      if text:sub(1, #typed) ~= typed then
        return item
      end
      local rest = text:sub(#typed + 1)
      local part = M.partial(rest, unit)
      if part == '' or part == rest then
        return item -- the whole suggestion: accept it as such (and tell the server)
      end
      local lines = vim.split(part, '\n', { plain = true })
      vim.api.nvim_buf_set_text(0, row, col, row, col, lines)
      vim.api.nvim_win_set_cursor(0, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
      return nil
    end,
  })
end

-- ---------------------------------------------------------------------------------------------
-- Setup.

local function on_attach(client, bufnr)
  local cfg = M.config
  local km = cfg.keymaps or {}
  if cfg.inline and vim.lsp.inline_completion and client:supports_method('textDocument/inlineCompletion') then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    if km.accept then
      vim.keymap.set('i', km.accept, function()
        if not vim.lsp.inline_completion.get() then
          return km.accept
        end
      end, { buffer = bufnr, expr = true, desc = 'Switchboard: accept inline completion' })
    end
    for unit, key in pairs({ word = km.accept_word, line = km.accept_line }) do
      if key then
        vim.keymap.set('i', key, function()
          if not M.accept_partial(unit) then
            return key
          end
        end, { buffer = bufnr, expr = true, desc = 'Switchboard: accept the next ' .. unit .. ' of the inline completion' })
      end
    end
    if km.next then
      vim.keymap.set('i', km.next, function()
        vim.lsp.inline_completion.select({ count = 1 })
      end, { buffer = bufnr, desc = 'Switchboard: next inline completion' })
    end
    if km.prev then
      vim.keymap.set('i', km.prev, function()
        vim.lsp.inline_completion.select({ count = -1 })
      end, { buffer = bufnr, desc = 'Switchboard: previous inline completion' })
    end
  end
  local comp = cfg.completion or {}
  if comp.enable ~= false and vim.lsp.completion and client:supports_method('textDocument/completion') then
    vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = comp.autotrigger == true })
  end
end

local SUBCOMMANDS = {
  doctor = M.doctor,
  stats = M.stats,
  toggle = M.toggle_inline,
  restart = M.restart,
  log = function()
    vim.cmd.edit(vim.fn.fnameescape(vim.lsp.log.get_filename()))
  end,
  explain = function() M.action('Explain') end,
  refactor = function() M.action('Refactor') end,
  fix = function() M.action('Fix') end,
  document = function() M.action('documentation') end,
  tests = function() M.action('tests') end,
}

---@param opts? table see M.defaults
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  local cfg = M.config
  if opts and opts.keymaps == false then
    cfg.keymaps = {}
  end
  if opts and opts.filetypes == false then
    cfg.filetypes = nil
  end

  vim.lsp.config(NAME, {
    cmd = cfg.cmd,
    filetypes = cfg.filetypes,
    root_markers = cfg.root_markers,
    -- The server reads initializationOptions with the config.toml schema, and the same object under
    -- the `switchboard` section of didChangeConfiguration (as VS Code sends it).
    init_options = cfg.settings,
    settings = { switchboard = cfg.settings },
    capabilities = {
      experimental = { switchboard = { explanationView = true, status = true } },
    },
    handlers = {
      ['switchboard/explanation'] = M.on_explanation,
      ['switchboard/status'] = M.on_status,
    },
    on_attach = on_attach,
  })
  vim.lsp.enable(NAME)

  pcall(vim.api.nvim_del_user_command, 'Switchboard')
  vim.api.nvim_create_user_command('Switchboard', function(a)
    local fn = SUBCOMMANDS[a.args]
    if not fn then
      vim.notify('switchboard: unknown subcommand ' .. a.args, vim.log.levels.ERROR)
      return
    end
    fn()
  end, {
    nargs = 1,
    desc = 'Switchboard: doctor, stats, toggle, restart, log, explain, refactor, fix, document, tests',
    complete = function(lead)
      return vim.tbl_filter(function(k)
        return k:find(lead, 1, true) == 1
      end, vim.tbl_keys(SUBCOMMANDS))
    end,
  })
end

--- Updates the server settings at run time (sent with workspace/didChangeConfiguration).
function M.update_settings(settings)
  M.config.settings = vim.tbl_deep_extend('force', M.config.settings or {}, settings or {})
  for _, c in ipairs(vim.lsp.get_clients({ name = NAME })) do
    c.settings = { switchboard = M.config.settings }
    c:notify('workspace/didChangeConfiguration', { settings = c.settings })
  end
end

return M
