// 0.995 -> '99.5%', 0.999 -> '99.9%', 0.9995 -> '99.95%': std.toString of 99.9 prints
// 99.900000000000006, so the digits are built from an integer.
function(ratio)
  local hundredths = std.floor(ratio * 10000 + 0.5);
  local whole = std.floor(hundredths / 100);
  local fraction = hundredths - whole * 100;
  std.toString(whole)
  + (if fraction == 0 then ''
     else if fraction % 10 == 0 then '.%d' % (fraction / 10)
     else '.%02d' % fraction)
  + '%'
