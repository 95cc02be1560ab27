// A YAML writer for Prometheus rule files that keeps the kit's comments and its regular layout
// (two-space indentation, `  - name:` for a group, `      - record:` / `      - alert:` for a
// rule, one key per line under labels and annotations). std.manifestYamlDoc drops comments,
// and scale/, demo/ and monitoring/tools/ read the files line by line.
//
// A group or a rule may carry a hidden `comment::` (text, one or more lines): it is written as
// `#` lines directly above it, where harness/rules.py and readers expect the why of each rule.
local strip(s) = std.stripChars(s, ' \n');

local commentLines(text, indent) =
  local pad = std.repeat(' ', indent);
  std.join('', [
    if line == '' then pad + '#\n' else pad + '# ' + line + '\n'
    for line in std.split(std.rstripChars(text, '\n'), '\n')
  ]);

local commentOf(object, indent) =
  if std.objectHasAll(object, 'comment') && object.comment != null
  then commentLines(object.comment, indent) else '';

// A plain scalar when YAML reads it back unchanged, a JSON string (valid YAML) otherwise.
local plainSafe(s) =
  std.length(s) > 0
  && std.length(std.findSubstr(': ', s)) == 0
  && std.length(std.findSubstr(' #', s)) == 0
  && std.length(std.findSubstr('\n', s)) == 0
  && !std.member('-?:,[]{}#&*!|>\'"%@`', s[0])
  && s[std.length(s) - 1] != ':'
  && s == strip(s)
  && !std.member(['true', 'false', 'null', 'yes', 'no', 'on', 'off', '~'], std.asciiLower(s))
  && std.length(std.findSubstr('{{', s)) == 0;

local scalar(s) = if plainSafe(s) then s else std.escapeStringJson(s);

// Multi-line text as a literal block, each line indented by `indent`.
local block(s, indent) =
  local pad = std.repeat(' ', indent);
  '|\n' + std.join('', [
    if line == '' then '\n' else pad + line + '\n'
    for line in std.split(std.rstripChars(s, '\n'), '\n')
  ]);

local value(s, indent) =
  if std.length(std.findSubstr('\n', std.rstripChars(s, '\n'))) > 0
  then block(s, indent) else scalar(std.rstripChars(s, '\n')) + '\n';

local mapping(name, object) =
  if std.length(std.objectFields(object)) == 0 then '' else
    '        ' + name + ':\n' + std.join('', [
      '          ' + key + ': ' + scalar(std.toString(object[key])) + '\n'
      for key in std.objectFields(object)
    ]);

local rule(r) =
  local kind = if std.objectHas(r, 'record') then 'record' else 'alert';
  commentOf(r, 6)
  + '      - ' + kind + ': ' + r[kind] + '\n'
  + '        expr: ' + value(r.expr, 10)
  + (if std.objectHas(r, 'for') then '        for: ' + r['for'] + '\n' else '')
  + (if std.objectHas(r, 'labels') then mapping('labels', r.labels) else '')
  + (if std.objectHas(r, 'annotations') then mapping('annotations', r.annotations) else '');

local group(g) =
  commentOf(g, 2)
  + '  - name: ' + g.name + '\n'
  + (if std.objectHas(g, 'interval') then '    interval: ' + g.interval + '\n' else '')
  + '    rules:\n'
  + std.join('', [rule(r) for r in g.rules]);

{
  // A rules file: `header` (comment text, first lines of the file) then the groups.
  rulesFile(header, groups)::
    commentLines(header, 0)
    + (if std.length(groups) == 0 then 'groups: []\n'
       else 'groups:\n' + std.join('', [group(g) for g in groups])),
  commentLines:: commentLines,
}
