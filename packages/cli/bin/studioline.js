#!/usr/bin/env -S node --initial-old-space-size=128 --no-memory-reducer
'use strict';
require('../dist/src/main.js').main(process.argv.slice(2));
