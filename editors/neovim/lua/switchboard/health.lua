--- :checkhealth switchboard — binary, version, running server, doctor report.
local M = {}

local function run(cmd, timeout)
  local ok, obj = pcall(function()
    return vim.system(cmd, { text = true }):wait(timeout)
  end)
  if not ok then
    return nil, tostring(obj)
  end
  return obj
end

function M.check()
  local sb = require('switchboard')
  local cfg = sb.config or sb.defaults
  local health = vim.health

  health.start('switchboard: editor')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()) .. ' (vim.lsp.config / vim.lsp.enable)')
  else
    health.error('Neovim 0.11+ is required (vim.lsp.config); this is ' .. tostring(vim.version()))
  end
  if vim.lsp.inline_completion then
    health.ok('inline completion (ghost text) available: vim.lsp.inline_completion')
  else
    health.warn('no vim.lsp.inline_completion: ghost text needs Neovim 0.12+; popup items still work')
  end

  health.start('switchboard: server binary')
  if type(cfg.cmd) ~= 'table' then
    health.info('cmd is a function (custom transport): skipping the binary checks')
    return
  end
  local exe = cfg.cmd[1]
  local path = exe and vim.fn.exepath(exe) or ''
  if path == '' then
    health.error(('`%s` not found'):format(tostring(exe)), {
      'Install it: cargo install --path . (in the switchboard repository)',
      'or pass the full path: require("switchboard").setup{ cmd = { "/path/to/switchboard" } }',
    })
    return
  end
  health.ok('found ' .. path)
  local v = run({ path, '--version' }, 5000)
  if v and v.code == 0 then
    health.ok('version: ' .. vim.trim(v.stdout or ''))
  else
    health.warn('`' .. path .. ' --version` failed: ' .. vim.trim((v and v.stderr) or ''))
  end

  health.start('switchboard: language server')
  local clients = vim.lsp.get_clients({ name = 'switchboard' })
  if #clients == 0 then
    health.warn('not running: open a file of a configured filetype (' .. table.concat(cfg.filetypes or { 'any' }, ', ') .. ')')
  else
    for _, c in ipairs(clients) do
      local caps = c.server_capabilities or {}
      health.ok(('client %d running (root %s)'):format(c.id, tostring(c.root_dir)))
      local function cap(name, field)
        if caps[field] then
          health.ok(name)
        else
          health.warn(name .. ' not advertised by the server')
        end
      end
      cap('inline completion (ghost text)', 'inlineCompletionProvider')
      cap('completion (popup items)', 'completionProvider')
      cap('code actions', 'codeActionProvider')
    end
    local s = sb.status
    if s then
      if s.error and s.error ~= vim.NIL then
        health.warn(('last %s: error: %s'):format(tostring(s.task), tostring(s.error)))
      else
        health.ok(('last %s served by %s in %s ms'):format(tostring(s.task), tostring(s.provider), tostring(s.latencyMs)))
      end
    end
  end

  health.start('switchboard: doctor')
  local d = run({ path, 'doctor' }, 20000)
  if not d then
    health.error('`switchboard doctor` could not run')
    return
  end
  local out = vim.trim((d.stdout or '') .. '\n' .. (d.stderr or ''))
  for _, line in ipairs(vim.split(out, '\n', { plain = true })) do
    if line ~= '' then
      health.info(line)
    end
  end
  if d.code == 0 then
    health.ok('doctor passed')
  else
    health.warn('doctor exited with ' .. tostring(d.code))
  end
end

return M
