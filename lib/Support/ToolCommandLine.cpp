//===- ToolCommandLine.cpp - command-line parsing of the tools ------------===//

#include "bnb/Support/ToolCommandLine.h"

#include "bnb/Support/Escape.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

bool bnb::parseToolCommandLine(int argc, const char *const *argv,
                               llvm::StringRef overview) {
  // A missing required option is reported on stderr directly, not to the
  // stream given to the parser: such options are checked here instead.
  llvm::SmallPtrSet<llvm::cl::Option *, 8> required;
  for (auto &entry : llvm::cl::getRegisteredOptions())
    if (entry.second->getNumOccurrencesFlag() == llvm::cl::Required)
      required.insert(entry.second);
  for (llvm::cl::Option *option : required)
    option->setNumOccurrencesFlag(llvm::cl::Optional);

  std::string captured;
  llvm::raw_string_ostream errors(captured);
  if (llvm::cl::ParseCommandLineOptions(argc, argv, overview, &errors)) {
    llvm::SmallVector<llvm::StringRef> missing;
    for (llvm::cl::Option *option : required)
      if (option->getNumOccurrences() == 0)
        missing.push_back(option->ArgStr);
    if (missing.empty())
      return true;
    llvm::sort(missing);
    llvm::errs() << "error: the option "
                 << (missing.front().size() == 1 ? "-" : "--") << missing.front()
                 << " is required; see --help\n";
    return false;
  }
  // Lines look like "<argv[0]>: <message>": keep the messages, one line.
  llvm::StringRef program = argc > 0 ? argv[0] : "";
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef(captured).split(lines, '\n', -1, /*KeepEmpty=*/false);
  std::string message;
  for (llvm::StringRef line : lines) {
    line = line.trim();
    for (llvm::StringRef prefix :
         {program, llvm::sys::path::filename(program)})
      if (!prefix.empty() && line.starts_with((prefix + ":").str())) {
        line = line.drop_front(prefix.size() + 1).trim();
        break;
      }
    if (line.empty())
      continue;
    if (!message.empty())
      message += "; ";
    message += line.str();
  }
  if (message.empty())
    message = "invalid command line";
  message[0] = llvm::toLower(message[0]);
  llvm::errs() << "error: " << escapeForMessage(message) << "\n";
  return false;
}
